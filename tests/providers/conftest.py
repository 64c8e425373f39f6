"""Fixtures for the provider tests: a frozen clock and httpx clients over a recording MockTransport for unit tests;
the emulator on 127.0.0.1, its control client and a push receiver for integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import httpx
import pytest

from calsync.clock import FrozenClock
from calsync.providers.http import make_http_client
from calsync.settings import Settings
from calsync_emulator.client import EmulatorControl
from calsync_emulator.testing import RunningEmulator
from tests.support.settings import emulator_settings

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that answers from a queue (or a function) and keeps every request it saw."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self._responses: list[httpx.Response | Exception] = []
        self.handler: Handler | None = None

    def add(self, response: httpx.Response | Exception) -> Recorder:
        self._responses.append(response)
        return self

    def json(self, status: int, body: object, headers: dict[str, str] | None = None) -> Recorder:
        return self.add(httpx.Response(status, json=body, headers=headers))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.handler is not None:
            return self.handler(request)
        item = self._responses.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def http(recorder: Recorder) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as client:
        yield client


# --- the emulator over real HTTP (integration tests) ------------------------------------------------------------


@pytest.fixture
async def emu(emulator: RunningEmulator) -> AsyncIterator[EmulatorControl]:
    """The control client of a freshly reset emulator."""
    async with emulator.control() as control:
        await control.reset()
        yield control
        await control.wait_notifications(5)


@pytest.fixture
def emu_settings(emulator: RunningEmulator) -> Settings:
    return emulator_settings(
        emulator,
        provider_timeout_seconds=10,
    )


@pytest.fixture
async def real_http(emu_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    client = make_http_client(emu_settings.provider_timeout_seconds)
    async with client:
        yield client
