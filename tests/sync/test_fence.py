"""A sync's writes behind the fence: only the lease owner writes, each write extends the lease, and the fence never
waits for the foreign-key locks that inserts of the calendar's rows take."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.clock import FrozenClock
from calsync.context import AppContext
from calsync.store.models import Calendar
from calsync.store.queries.calendars import NewCalendar, create_calendar
from calsync.store.queries.projects import create_project
from calsync.sync.fence import Fence, LeaseLost
from calsync.worker.claims import claim_due_calendars
from tests.support.databases import waiting_for_a_lock
from tests.sync.conftest import eventually
from tests.sync.test_concurrency_faults import postgres_only

LEASE = 120.0


async def _claimed(context: AppContext, owner: str) -> int:
    """A calendar claimed by `owner` at the context's clock."""
    now = context.clock()
    async with context.db.write() as session:
        project = await create_project(session, "fence", now)
        calendar = await create_calendar(
            session, project.id, NewCalendar("google", "client", b"secret", None, "key", None), now
        )
        calendar.sync_due_at = now
        await session.flush()
        calendar_id = calendar.id
    [claim] = await claim_due_calendars(context.db, owner, now, limit=1, lease_seconds=LEASE)
    assert claim.calendar_id == calendar_id
    return calendar_id


async def _row(context: AppContext, calendar_id: int) -> Calendar:
    async with context.db.read() as session:
        calendar = await session.get(Calendar, calendar_id)
        assert calendar is not None
        return calendar


@pytest.fixture
def clock(context: AppContext) -> FrozenClock:
    context.clock = FrozenClock(datetime(2026, 5, 1, 9, 0, tzinfo=UTC))
    return context.clock


async def test_the_owner_writes_and_each_write_extends_the_lease(context: AppContext, clock: FrozenClock) -> None:
    calendar_id = await _claimed(context, "w1")
    fence = Fence(context, "w1")
    clock.advance(seconds=30)

    async def body(_session: AsyncSession, calendar: Calendar) -> str:
        calendar.owner_email = "owner@example.com"
        return calendar.object_id  # the whole row is there for the body

    object_id = await fence.write(calendar_id, body, "test")
    row = await _row(context, calendar_id)
    assert object_id == row.object_id
    assert row.owner_email == "owner@example.com"
    assert row.lease_owner == "w1" and row.lease_expires_at == clock() + timedelta(
        seconds=context.settings.lease_seconds
    )

    clock.advance(seconds=30)
    await fence.set(calendar_id, {"sync_cursor": "cursor-2"}, "test")
    row = await _row(context, calendar_id)
    assert row.sync_cursor == "cursor-2" and row.owner_email == "owner@example.com"
    assert row.lease_expires_at == clock() + timedelta(seconds=context.settings.lease_seconds)


async def test_a_worker_without_the_lease_writes_nothing(context: AppContext, clock: FrozenClock) -> None:
    calendar_id = await _claimed(context, "w1")
    before = await _row(context, calendar_id)
    ran = False

    async def body(_session: AsyncSession, calendar: Calendar) -> None:
        nonlocal ran
        ran = True
        calendar.owner_email = "late@example.com"

    clock.advance(seconds=30)
    stale = Fence(context, "w0")
    with pytest.raises(LeaseLost):
        await stale.write(calendar_id, body, "test")
    with pytest.raises(LeaseLost):
        await stale.set(calendar_id, {"sync_cursor": "stale"}, "test")
    after = await _row(context, calendar_id)
    assert not ran
    assert (after.owner_email, after.sync_cursor, after.lease_owner, after.lease_expires_at) == (
        before.owner_email,
        before.sync_cursor,
        "w1",
        before.lease_expires_at,
    )


async def test_a_write_that_waited_for_a_takeover_sees_the_new_owner(context: AppContext, database_url: str) -> None:
    postgres_only(database_url)
    calendar_id = await _claimed(context, "w1")
    async with context.db.write() as takeover:
        # Another worker takes the calendar over (its lease ran out); the old owner's write queues behind it.
        await takeover.execute(update(Calendar).where(Calendar.id == calendar_id).values(lease_owner="w2"))
        write = asyncio.ensure_future(Fence(context, "w1").set(calendar_id, {"sync_cursor": "old owner"}, "test"))
        await eventually(lambda: waiting_for_a_lock(database_url))
        assert not write.done()
    with pytest.raises(LeaseLost):
        await asyncio.wait_for(write, timeout=10)
    row = await _row(context, calendar_id)
    assert (row.lease_owner, row.sync_cursor) == ("w2", None)


async def test_the_fence_does_not_wait_for_the_key_share_locks_of_inserts(
    context: AppContext, database_url: str
) -> None:
    postgres_only(database_url)
    calendar_id = await _claimed(context, "w1")
    async with context.db.write() as insert:
        # What an insert of the calendar's events or outbox rows holds on its row until it commits.
        await insert.execute(
            select(Calendar.id).where(Calendar.id == calendar_id).with_for_update(read=True, key_share=True)
        )
        await asyncio.wait_for(Fence(context, "w1").set(calendar_id, {"sync_cursor": "c"}, "test"), timeout=10)
    assert (await _row(context, calendar_id)).sync_cursor == "c"
