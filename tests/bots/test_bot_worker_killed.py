"""A `calsync worker` process SIGKILLed while it dispatches: every bot is dispatched exactly once all the same."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from calsync.bots.dispatch import BotDispatchLoop
from calsync.context import AppContext
from calsync.ids import new_id
from calsync.store.models import Bot, WebhookDelivery
from tests.bots.support import MEET, subscribe
from tests.support.service import Tenant
from tests.sync.conftest import eventually

BOTS = 3000
ROOT = Path(__file__).resolve().parents[2]


async def insert_due_bots(context: AppContext, project_id: int, count: int) -> None:
    now = context.clock()
    rows = [
        {
            "object_id": new_id("bot_"),
            "project_id": project_id,
            "state": "scheduled",
            "meeting_url": MEET,
            "join_at": now + timedelta(seconds=120),
            "dispatch_at": now,
            "dispatch_due_at": now,
            "join_offset_seconds": 0,
            "dispatch_lead_seconds": 120,
            "created_at": now,
            "updated_at": now,
        }
        for _ in range(count)
    ]
    async with context.db.write() as session:
        await session.execute(insert(Bot), rows)


async def dispatched(context: AppContext) -> int:
    async with context.db.read() as session:
        return int((await session.execute(select(func.count()).where(Bot.state == "dispatched"))).scalar_one())


async def test_a_worker_killed_during_dispatch_loses_and_doubles_nothing(
    context: AppContext, tenant: Tenant, tmp_path: Path
) -> None:
    await subscribe(tenant)
    await insert_due_bots(context, tenant.project_id, BOTS)
    env = {
        **os.environ,
        "CALSYNC_DATABASE_URL": context.settings.resolved_database_url,
        "CALSYNC_ENCRYPTION_KEYS": context.settings.encryption_keys or "",
        "CALSYNC_DATA_DIR": str(tmp_path / "worker"),
        "CALSYNC_WORKER_POLL_INTERVAL_SECONDS": "0.2",
        "CALSYNC_LOG_LEVEL": "WARNING",
    }
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "calsync.cli", "worker", cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        await eventually(lambda: dispatched(context), seconds=60)  # it has committed its first batch
    finally:
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
    assert worker.returncode == -signal.SIGKILL
    by_the_killed_worker = await dispatched(context)
    assert 0 < by_the_killed_worker < BOTS, "killed in the middle of dispatching"

    loop = BotDispatchLoop(context)
    while await loop.run_once():
        pass
    async with context.db.read() as session:
        states = dict((await session.execute(select(Bot.state, func.count()).group_by(Bot.state))).all())
        launches = (
            await session.execute(
                select(WebhookDelivery.bot_object_id, func.count())
                .where(WebhookDelivery.trigger == "bot.dispatch")
                .group_by(WebhookDelivery.bot_object_id)
            )
        ).all()
        undated = (await session.execute(select(func.count()).where(Bot.dispatched_at.is_(None)))).scalar_one()
    assert states == {"dispatched": BOTS}
    assert len(launches) == BOTS and {count for _, count in launches} == {1}, "each bot launched exactly once"
    assert undated == 0
