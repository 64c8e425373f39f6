"""Hosted connect against the emulator over real HTTP on 127.0.0.1, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from calsync.settings import Settings
from calsync_emulator.client import EmulatorControl
from calsync_emulator.testing import RunningEmulator
from tests.connect.support import Connect
from tests.support.service import Tenant, free_port, serve_app


@pytest.fixture
async def control(emulator: RunningEmulator) -> AsyncIterator[EmulatorControl]:
    async with emulator.control() as client:
        await client.reset()
        yield client


@pytest.fixture
def api_port() -> int:
    return free_port()


@pytest.fixture
async def api_url(app: FastAPI, api_port: int) -> AsyncIterator[str]:
    # Known before the app starts: the redirect URIs are built from the public URL.
    async with serve_app(app, api_port) as url:
        yield url


@pytest.fixture
def settings(
    database_url: str, tmp_path: Path, encryption_key: str, emulator: RunningEmulator, api_port: int
) -> Settings:
    return Settings(
        public_url=f"http://127.0.0.1:{api_port}",
        database_url=database_url,
        data_dir=tmp_path / "data",
        encryption_keys=encryption_key,
        provider_timeout_seconds=10,
        google_oauth_token_url=emulator.google_token_url,
        google_oauth_authorize_url=f"{emulator.base_url}/google/auth",
        google_api_url=emulator.google_api_url,
        microsoft_login_url=emulator.microsoft_login_url,
        microsoft_graph_url=emulator.graph_url,
        webhook_allow_http=True,
        webhook_allow_private_targets=True,
    )


@pytest.fixture
async def connect(tenant: Tenant, control: EmulatorControl, api_url: str) -> Connect:
    """The tenant's connect settings with an app per platform registered at the emulator, and one account each."""
    found = Connect(tenant, control, api_url)
    await found.configure()
    return found
