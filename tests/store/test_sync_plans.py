"""A sync, its push channel's renewal, its next check by need and the push receivers stay bound by an index among
100,000 calendars, 100,000 push channels and 300,000 events (PostgreSQL; the size and the load in
tests/store/plans.py).

One calendar connected through the API syncs against the emulator as a worker runs it (claim, token, listing,
page, outcome, the next check planned from its events, calsync.sync.upcoming), then again with its channel about
to expire, so that the sync renews it (calsync.sync.channel_upkeep); notifications for loaded channels go through
the receiver (calsync.push.receiver), a Graph lifecycle event among them. Every statement sent is `EXPLAIN`ed with
its parameters: none may read a large table sequentially, and none of the reads may read more than a few pages'
worth of rows.

Not checked here: the catch-up after a restart (calsync.push.catchup) reads every calendar with an active channel
by design, once per start or database gap, and spreads their syncs over up to 10 minutes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from calsync.context import AppContext
from calsync.push import receiver
from calsync.store.models import Calendar, PushChannel
from calsync.worker.claims import claim_due_calendars
from calsync.worker.sync_loop import SyncLoop
from calsync_emulator.client import EmulatorControl
from tests.store.plans import (
    CHANNEL_TOKEN,
    ON_POSTGRES,
    analyze,
    captured,
    large_reads,
    load_calendars,
    load_events,
    sequential_scans,
)
from tests.support.service import Tenant
from tests.sync.conftest import api_port, api_url, connect_calendar, control, settings  # noqa: F401 - fixtures

pytestmark = [pytest.mark.timeout(600), ON_POSTGRES]


async def sync_first(context: AppContext, calendar_object_id: str) -> None:
    """Claim this calendar before the loaded ones that are due (it is made due earliest) and sync it."""
    async with context.db.write() as session:
        await session.execute(
            update(Calendar)
            .where(Calendar.object_id == calendar_object_id)
            .values(sync_due_at=context.clock() - timedelta(days=1))
        )
    loop = SyncLoop(context, "plan-worker")
    try:
        [claim] = await claim_due_calendars(context.db, "plan-worker", context.clock(), limit=1, lease_seconds=60)
        outcome = await loop.syncer.sync(claim.calendar_id, claim.due_at)
        assert outcome.error is None, outcome.error
    finally:
        await loop.http.aclose()


async def test_a_sync_its_channel_renewal_and_the_receivers_use_indexes(
    context: AppContext,
    tenant: Tenant,
    database_url: str,
    control: EmulatorControl,  # noqa: F811 - the fixture
) -> None:
    now = datetime.now(UTC)
    await load_calendars(context, tenant.project_id, now)
    await load_events(context, tenant.project_id, now)
    account = await control.create_account("google")
    soon = now.replace(second=0, microsecond=0) + timedelta(hours=2)
    await control.create_event(
        account["primary_calendar_id"], soon, soon + timedelta(minutes=30), summary="Standup",
        meeting_url="https://meet.google.com/abc-defg-hij",
    )  # fmt: skip
    created = await connect_calendar(tenant, account)
    await sync_first(context, created["id"])  # opens its channel
    await analyze(context)

    async with context.db.write() as session:
        calendar_id = (
            await session.execute(select(Calendar.id).where(Calendar.object_id == created["id"]))
        ).scalar_one()
        await session.execute(
            update(PushChannel)
            .where(PushChannel.calendar_id == calendar_id)
            .values(expires_at=now + timedelta(hours=1))
        )
    with captured(context) as statements:
        await sync_first(context, created["id"])
        accepted, _ = await receiver.record(
            context,
            [
                receiver.Notification(f"chan_plan{calendar_id - 1}", CHANNEL_TOKEN),
                receiver.Notification(
                    f"chan_plan{calendar_id - 2}", CHANNEL_TOKEN, lifecycle="reauthorizationRequired"
                ),
                receiver.Notification(f"chan_plan{calendar_id - 3}", CHANNEL_TOKEN, lifecycle="missed"),
                receiver.Notification("chan_unknown", CHANNEL_TOKEN),
            ],
        )
    assert accepted == 3
    async with context.db.read() as session:
        renewed = (
            await session.execute(select(PushChannel).where(PushChannel.calendar_id == calendar_id))
        ).scalar_one()
        due = (await session.execute(text("SELECT count(*) FROM calendars WHERE sync_reason = 'missed'"))).scalar_one()
    assert renewed.expires_at > now + timedelta(days=2), "the sync renewed the channel"
    assert due == 1
    assert any("push_channels" in statement for statement, _ in statements)
    assert await sequential_scans(context, statements) == []
    assert await large_reads(context, statements) == []
