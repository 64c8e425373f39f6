"""Sync tests run calsync against the emulator over real HTTP on 127.0.0.1, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi import FastAPI

from calsync.context import AppContext
from calsync.settings import Settings
from calsync.worker.runner import WorkerRunner
from calsync.worker.sync_loop import SyncLoop
from calsync_emulator.client import EmulatorControl
from calsync_emulator.testing import RunningEmulator
from tests.support.service import Tenant, free_port, serve_app
from tests.support.settings import emulator_settings

T = TypeVar("T")


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
    # Known before the app starts, so settings can name it as the public URL for push channels.
    async with serve_app(app, api_port) as url:
        yield url


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
        worker_poll_interval_seconds=0.2,
        sync_debounce_seconds=0.05,
        provider_timeout_seconds=10,
        webhook_allow_http=True,
        webhook_allow_private_targets=True,
    )


@contextlib.asynccontextmanager
async def running_worker(context: AppContext, worker_id: str | None = None) -> AsyncIterator[SyncLoop]:
    loop = SyncLoop(context, worker_id)
    runner = WorkerRunner(context, [loop])
    task = asyncio.create_task(runner.run())
    try:
        yield loop
    finally:
        runner.stop()
        await task


async def eventually(check: Callable[[], Awaitable[T | None]], *, seconds: float = 15.0) -> T:
    """Wait for something another process or thread does (bounded); returns the first truthy result."""
    async with asyncio.timeout(seconds):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.05)


async def connect_calendar(tenant: Tenant, account: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {
        "platform": account["platform"],
        "client_id": account["client_id"],
        "client_secret": account["client_secret"],
        "refresh_token": account["refresh_token"],
        **extra,
    }
    response = await tenant.client.post("/api/v1/calendars", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def list_events(tenant: Tenant, calendar_id: str, **params: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    response = await tenant.client.get(
        "/api/v1/calendar_events", params={"calendar_id": calendar_id, "ordering": "start_time", **params}
    )
    for _ in range(1000):
        page = response.json()
        rows.extend(page["results"])
        if not page["next"]:
            return rows
        response = await tenant.client.get(page["next"])
    raise AssertionError("unbounded pagination")


async def sync_once(context: AppContext, calendar_object_id: str, worker_id: str = "test-worker") -> Any:
    """Make the calendar due, claim it as a worker would, and run one sync in this task (deterministic). Other
    calendars claimed on the way (due from their own pushes) are synced too; the result is this calendar's."""
    from sqlalchemy import update

    from calsync.store.models import Calendar
    from calsync.worker.claims import claim_due_calendars

    async with context.db.write() as session:
        target = (
            await session.execute(
                update(Calendar)
                .where(Calendar.object_id == calendar_object_id)
                .values(sync_due_at=context.clock())
                .returning(Calendar.id)
            )
        ).scalar_one()
    loop = SyncLoop(context, worker_id)

    async def claim_and_sync() -> list[Any]:
        # SKIP LOCKED passes over a row another transaction holds for a moment (a push receiver, say), and a
        # push may move the due time by its debounce: claim again until this calendar is among the claims.
        claims = await claim_due_calendars(context.db, worker_id, context.clock(), limit=100, lease_seconds=60)
        outcomes = [(claim.calendar_id, await loop.syncer.sync(claim.calendar_id, claim.due_at)) for claim in claims]
        return [outcome for calendar_id, outcome in outcomes if calendar_id == target]

    try:
        [result] = await eventually(claim_and_sync, seconds=10)
        return result
    finally:
        await loop.http.aclose()


async def calendar_row(context: AppContext, calendar_object_id: str) -> Any:
    from sqlalchemy import select

    from calsync.store.models import Calendar

    async with context.db.read() as session:
        return (await session.execute(select(Calendar).where(Calendar.object_id == calendar_object_id))).scalar_one()
