"""The platforms' official SDKs against a live emulator: Google over http, on the session's emulator
(tests/conftest.py), Microsoft over https (msal insists on it), on one of its own; both reset before every test.
The SDKs are wired up by the functions of examples/emulator_sdk.py, which docs/emulator.md quotes."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from calsync_emulator.client import EmulatorControl, SyncEmulatorControl
from calsync_emulator.testing import RunningEmulator, running_emulator

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "emulator_sdk.py"


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("emulator_sdk", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


sdk = _load_example()


@pytest.fixture(scope="session")
def ms_emu() -> Iterator[RunningEmulator]:
    with running_emulator(tls=True) as running:
        yield running


@pytest.fixture
def gcontrol(emulator: RunningEmulator) -> Iterator[SyncEmulatorControl]:
    with emulator.sync_control() as control:
        control.reset()
        yield control
        control.wait_notifications(5)


@pytest.fixture
async def mcontrol(ms_emu: RunningEmulator) -> AsyncIterator[EmulatorControl]:
    async with ms_emu.control() as control:
        await control.reset()
        yield control
        await control.wait_notifications(5)
