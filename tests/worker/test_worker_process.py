"""`calsync worker` as its own process syncs calendars of both platforms completely."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from calsync.context import AppContext
from calsync.settings import Settings
from calsync_emulator.client import EmulatorControl
from calsync_emulator.testing import RunningEmulator
from tests.support.service import Tenant
from tests.sync.conftest import calendar_row, connect_calendar, eventually, list_events
from tests.worker.conftest import worker_process_env

BASE = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)


async def test_the_worker_process_syncs_both_platforms(
    control: EmulatorControl,
    context: AppContext,
    tenant: Tenant,
    settings: Settings,
    emulator: RunningEmulator,
    tmp_path: Path,
) -> None:
    calendars = []
    for platform in ("google", "microsoft"):
        account = await control.create_account(platform)
        for index in range(120):  # more than one Graph page (100)
            start = BASE + timedelta(hours=index)
            await control.create_event(
                account["primary_calendar_id"], start, start + timedelta(minutes=30), summary=f"{platform}-{index}"
            )
        calendars.append((platform, (await connect_calendar(tenant, account))["id"]))
    env = worker_process_env(emulator, settings, tmp_path / "worker")
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "calsync.cli",
        "worker",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:

        async def synced() -> bool:
            rows = [await calendar_row(context, calendar_id) for _, calendar_id in calendars]
            return all(row.last_successful_sync_at is not None for row in rows)

        assert await eventually(synced, seconds=60)
    finally:
        worker.terminate()
        _, stderr = await asyncio.wait_for(worker.communicate(), timeout=30)
    assert worker.returncode == 0, stderr.decode()
    for platform, calendar_id in calendars:
        events = await list_events(tenant, calendar_id)
        assert sorted(e["name"] for e in events) == sorted(f"{platform}-{i}" for i in range(120))
