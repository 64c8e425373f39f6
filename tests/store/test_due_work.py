"""The due-work building block (calsync.store.due_work) on SQLite and PostgreSQL: exclusive claims under concurrent
claimers, leases that make work due again when they expire, release, next due times, queues without due times."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from calsync.context import AppContext
from calsync.meetings import queue
from calsync.store.due_work import CALENDAR_SYNCS, MEETING_EVALUATIONS, DueWork
from calsync.store.models import Calendar, MeetingEvaluation
from calsync.store.queries.calendars import NewCalendar, create_calendar
from calsync.store.queries.projects import create_project
from calsync.store.work_signal import SYNC_LOOP, WorkSignal
from calsync.worker.claims import claim_due_calendars, seconds_until_next_due
from tests.sync.test_concurrency_faults import postgres_only

LEASE = 60.0


async def _calendars(context: AppContext, due: list[datetime | None]) -> list[int]:
    """A project with one calendar per due time (None: not scheduled)."""
    now = context.clock()
    async with context.db.write() as session:
        project = await create_project(session, "due-work", now)
        calendars = []
        for index, due_at in enumerate(due):
            new = NewCalendar("google", "client", b"secret", None, f"key-{index}", None)
            calendar = await create_calendar(session, project.id, new, now)
            calendar.sync_due_at = due_at
            calendars.append(calendar)
        await session.flush()
        return [calendar.id for calendar in calendars]


async def _row(context: AppContext, calendar_id: int) -> Calendar:
    async with context.db.read() as session:
        calendar = await session.get(Calendar, calendar_id)
        assert calendar is not None
        return calendar


async def test_concurrent_claimers_never_take_a_row_twice(context: AppContext) -> None:
    now = context.clock()
    ids = await _calendars(context, [now - timedelta(seconds=i) for i in range(20)])

    async def claimer(index: int) -> list[int]:
        claims = await claim_due_calendars(context.db, f"w{index}", now, limit=4, lease_seconds=LEASE)
        return [claim.calendar_id for claim in claims]

    taken = [
        calendar_id for claimed in await asyncio.gather(*(claimer(i) for i in range(8))) for calendar_id in claimed
    ]
    assert len(taken) == len(set(taken)), "a calendar claimed by two workers"
    # What SKIP LOCKED left to the others while it was held is claimable afterwards; nothing is lost.
    rest = await claim_due_calendars(context.db, "late", now, limit=100, lease_seconds=LEASE)
    assert sorted(taken + [claim.calendar_id for claim in rest]) == sorted(ids)


async def test_claims_take_the_earliest_due_first(context: AppContext) -> None:
    now = context.clock()
    ids = await _calendars(
        context, [now - timedelta(seconds=1), now - timedelta(seconds=3), now + timedelta(seconds=1)]
    )
    claims = await claim_due_calendars(context.db, "w", now, limit=1, lease_seconds=LEASE)
    assert [claim.calendar_id for claim in claims] == [ids[1]]
    assert claims[0].reason == "created" and claims[0].due_at == now + timedelta(seconds=LEASE)
    claims = await claim_due_calendars(context.db, "w", now, limit=10, lease_seconds=LEASE)
    assert [claim.calendar_id for claim in claims] == [ids[0]], "not yet due: left"


async def test_a_held_row_is_skipped_not_waited_for(context: AppContext, database_url: str) -> None:
    postgres_only(database_url)
    now = context.clock()
    ids = await _calendars(context, [now - timedelta(seconds=2), now - timedelta(seconds=1)])
    async with context.db.write() as holder:
        held = await CALENDAR_SYNCS.take(holder, now, limit=1)
        assert [row.id for row in held] == [ids[0]]
        async with context.db.write() as other:
            # Bounded: a claim that waited for the holder would never return while the holder waits for it.
            taken = await asyncio.wait_for(CALENDAR_SYNCS.take(other, now, limit=10), timeout=10)
            assert [row.id for row in taken] == [ids[1]]


async def test_an_expired_lease_makes_the_work_due_again(context: AppContext) -> None:
    now = context.clock()
    [calendar_id] = await _calendars(context, [now])
    [first] = await claim_due_calendars(context.db, "w1", now, limit=10, lease_seconds=LEASE)
    row = await _row(context, calendar_id)
    assert (row.lease_owner, row.lease_expires_at, row.sync_due_at) == ("w1", first.due_at, first.due_at)

    # A request during the sync moves the due time earlier: still not claimable while the lease holds.
    async with context.db.write() as session:
        await session.execute(update(Calendar).values(sync_due_at=now + timedelta(seconds=1)))
    later = now + timedelta(seconds=LEASE / 2)
    assert await claim_due_calendars(context.db, "w2", later, limit=10, lease_seconds=LEASE) == []

    # The worker died: when its lease runs out another worker takes the calendar over.
    expired = now + timedelta(seconds=LEASE + 1)
    [second] = await claim_due_calendars(context.db, "w2", expired, limit=10, lease_seconds=LEASE)
    assert second.calendar_id == calendar_id and second.due_at == expired + timedelta(seconds=LEASE)
    assert (await _row(context, calendar_id)).lease_owner == "w2"


async def test_release_hands_back_only_the_owners_rows(context: AppContext) -> None:
    now = context.clock()
    ids = await _calendars(context, [now, now])
    await claim_due_calendars(context.db, "w1", now, limit=10, lease_seconds=LEASE)
    back = now + timedelta(seconds=5)
    async with context.db.write() as session:
        await CALENDAR_SYNCS.release(session, ids[:1], owner="w1", now=back)
        await CALENDAR_SYNCS.release(session, ids[1:], owner="someone else", now=back)
    released, kept = await _row(context, ids[0]), await _row(context, ids[1])
    assert (released.lease_owner, released.lease_expires_at, released.sync_due_at) == (None, None, back)
    assert kept.lease_owner == "w1" and kept.sync_due_at == now + timedelta(seconds=LEASE)


async def test_next_due_time(context: AppContext) -> None:
    now = context.clock()
    assert await seconds_until_next_due(context.db, now) is None, "nothing scheduled"
    await _calendars(context, [now - timedelta(seconds=5), now + timedelta(seconds=30), None])
    # Rows already due may be unclaimable for now (a worker at its concurrency): the next one still to come.
    assert await seconds_until_next_due(context.db, now) == 30.0
    overdue_wakes = DueWork(
        Calendar, Calendar.id, SYNC_LOOP, order=(Calendar.sync_due_at,), due=Calendar.sync_due_at, overdue_wakes=True
    )
    assert await overdue_wakes.seconds_until_due(context.db, now, what="test") == 0.0


async def test_a_queue_without_due_times_is_taken_in_order_and_removed(context: AppContext) -> None:
    now = context.clock()
    async with context.db.write() as session:
        project = await create_project(session, "due-work", now)
        await queue.enqueue(session, project.id, [f"mtg_{index}" for index in range(5)], now)
    async with context.db.write() as session:
        first = await MEETING_EVALUATIONS.take(session, None, limit=2)
        assert [row.meeting_object_id for row in first] == ["mtg_0", "mtg_1"]
        after = await MEETING_EVALUATIONS.take(session, None, MeetingEvaluation.id > first[-1].id, limit=10)
        assert [row.meeting_object_id for row in after] == ["mtg_2", "mtg_3", "mtg_4"]
        await MEETING_EVALUATIONS.remove(session, [row.id for row in first])
    async with context.db.read() as session:
        assert (await session.execute(select(func.count()).select_from(MeetingEvaluation))).scalar_one() == 3


async def test_a_wake_up_names_the_queues_loop() -> None:
    signal = WorkSignal()
    assert not await signal.wait(0, SYNC_LOOP)
    CALENDAR_SYNCS.kick(signal)
    assert await signal.wait(5, SYNC_LOOP)
