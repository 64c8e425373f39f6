"""Hosted connect against the emulator over real HTTP on 127.0.0.1, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from calsync.settings import Settings
from calsync_emulator.client import EmulatorControl
from calsync_emulator.testing import RunningEmulator
from tests.connect.support import Connect
from tests.support.service import Tenant
from tests.support.settings import emulator_settings
from tests.sync import conftest as sync_suite

# The sync suite's emulator control and API server (its public URL is known before the app starts).
control = sync_suite.control
api_port = sync_suite.api_port
api_url = sync_suite.api_url


@pytest.fixture
def settings(
    database_url: str, tmp_path: Path, encryption_key: str, emulator: RunningEmulator, api_port: int
) -> Settings:
    return emulator_settings(
        emulator,
        public_url=f"http://127.0.0.1:{api_port}",
        database_url=database_url,
        data_dir=tmp_path / "data",
        encryption_keys=encryption_key,
        provider_timeout_seconds=10,
        webhook_allow_http=True,
        webhook_allow_private_targets=True,
    )


@pytest.fixture
async def connect(tenant: Tenant, control: EmulatorControl, api_url: str) -> Connect:
    """The tenant's connect settings with an app per platform registered at the emulator, and one account each."""
    found = Connect(tenant, control, api_url)
    await found.configure()
    return found
