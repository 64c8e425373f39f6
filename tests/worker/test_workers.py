"""Several workers: each calendar is synced by at most one at a time, and a killed worker's work is taken over."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event, update
from sqlalchemy.orm import object_session

from calsync.context import AppContext
from calsync.settings import Settings
from calsync.store.models import Calendar
from calsync.sync.engine import CalendarSyncer
from calsync.sync.snapshot import CalendarSnapshot
from calsync_emulator.client import EmulatorControl
from calsync_emulator.testing import RunningEmulator
from tests.support.service import Tenant
from tests.sync.conftest import calendar_row, connect_calendar, eventually, list_events, running_worker
from tests.worker.conftest import worker_process_env

BASE = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)


async def test_two_workers_never_sync_one_calendar_at_once(
    control: EmulatorControl, context: AppContext, tenant: Tenant, monkeypatch
) -> None:
    calendars = []
    for index in range(6):
        account = await control.create_account("google")
        await control.create_event(account["primary_calendar_id"], BASE, BASE + timedelta(hours=1), summary=f"c{index}")
        calendars.append((await connect_calendar(tenant, account))["id"])
    await control.add_fault("latency", latency_ms=50, path_contains="/events")

    # A worker holds a calendar from its claim until the transaction that releases the lease commits; the next claim
    # may come right then, while the first worker's coroutine is still returning its connection to the pool.
    running: dict[int, str] = {}
    overlaps: list[int] = []
    syncs: list[int] = []
    original = CalendarSyncer.sync
    original_release = CalendarSyncer._release

    async def watched(
        self: CalendarSyncer, calendar_id: int, claimed_due_at: datetime, snapshot: CalendarSnapshot | None = None
    ):  # type: ignore[no-untyped-def]
        if calendar_id in running:
            overlaps.append(calendar_id)
        running[calendar_id] = self.worker_id
        try:
            return await original(self, calendar_id, claimed_due_at, snapshot)
        finally:
            if running.get(calendar_id) == self.worker_id:
                running.pop(calendar_id)
            syncs.append(calendar_id)

    def released(self: CalendarSyncer, calendar: Calendar) -> None:
        original_release(self, calendar)
        holder, calendar_id = self.worker_id, calendar.id

        def committed(_session: object) -> None:
            if running.get(calendar_id) == holder:
                running.pop(calendar_id)

        session = object_session(calendar)
        assert session is not None
        event.listen(session, "after_commit", committed, once=True)

    monkeypatch.setattr(CalendarSyncer, "sync", watched)
    monkeypatch.setattr(CalendarSyncer, "_release", released)
    async with running_worker(context, "worker-a"), running_worker(context, "worker-b"):
        for _round in range(5):
            # Everything due again at once, over and over, while both workers claim.
            async with context.db.write() as session:
                await session.execute(update(Calendar).values(sync_due_at=context.clock()))
            context.work_signal.kick()
            await asyncio.sleep(0.1)
        await eventually(lambda: _all_synced(context, calendars))
    assert overlaps == []
    assert len(syncs) >= len(calendars)


async def _all_synced(context: AppContext, calendars: list[str]) -> bool:
    rows = [await calendar_row(context, calendar_id) for calendar_id in calendars]
    return all(row.last_successful_sync_at and row.lease_owner is None for row in rows)


async def test_killed_worker_is_taken_over_and_nothing_is_lost_or_doubled(
    control: EmulatorControl,
    context: AppContext,
    tenant: Tenant,
    settings: Settings,
    emulator: RunningEmulator,
    tmp_path: Path,
) -> None:
    account = await control.create_account("microsoft")
    for index in range(30):
        start = BASE + timedelta(hours=index)
        await control.create_event(
            account["primary_calendar_id"], start, start + timedelta(minutes=30), summary=f"e{index}"
        )
    created = await connect_calendar(tenant, account)
    # Slow listing: the subprocess worker will be killed while its sync is in flight.
    await control.add_fault("latency", latency_ms=3000, path_contains="calendarView")
    env = worker_process_env(emulator, settings, tmp_path / "worker", CALSYNC_LEASE_SECONDS="2")
    worker = subprocess.Popen(  # noqa: ASYNC220 - a real process, so SIGKILL is real
        [sys.executable, "-m", "calsync.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        leased = await eventually(lambda: _leased_by_other(context, created["id"]), seconds=30)
        assert leased
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
    assert worker.returncode == -signal.SIGKILL
    await control.clear_faults()
    row = await calendar_row(context, created["id"])
    assert row.last_successful_sync_at is None, "the killed worker never finished"
    async with running_worker(context, "rescuer"):
        await eventually(lambda: _synced(context, created["id"]), seconds=20)
    events = await list_events(tenant, created["id"])
    assert sorted(e["name"] for e in events) == sorted(f"e{i}" for i in range(30)), "nothing lost or doubled"
    assert len({e["platform_uuid"] for e in events}) == 30


async def _leased_by_other(context: AppContext, calendar_id: str) -> bool:
    row = await calendar_row(context, calendar_id)
    return row.lease_owner is not None


async def _synced(context: AppContext, calendar_id: str) -> bool:
    row = await calendar_row(context, calendar_id)
    return row.last_successful_sync_at is not None


async def test_an_unexpected_crash_is_visible_and_retried(
    control: EmulatorControl, context: AppContext, tenant: Tenant, monkeypatch
) -> None:
    account = await control.create_account("google")
    created = await connect_calendar(tenant, account)

    async def broken(*_args, **_kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr("calsync.sync.engine.plan_page", broken)
    await control.create_event(account["primary_calendar_id"], BASE, BASE + timedelta(hours=1), summary="x")
    async with running_worker(context):
        row = await eventually(lambda: _errored(context, created["id"]))
    assert row.last_sync_error["code"] == "internal_error"
    assert "bug" not in row.last_sync_error["error"], "only the error class, details stay in the log"
    assert row.lease_owner is None and row.sync_due_at > context.clock()
    monkeypatch.undo()
    calendar = (await tenant.client.get(f"/api/v1/calendars/{created['id']}")).json()
    assert calendar["state"] == "connected" and calendar["last_sync_error"]["code"] == "internal_error"


async def _errored(context: AppContext, calendar_id: str):
    row = await calendar_row(context, calendar_id)
    return row if row.last_sync_error else None
