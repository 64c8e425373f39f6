"""Events stored before meetings existed (no `meeting_id`) are given their meeting by the worker, and rules then
apply to them; the loop stops for good once none is left."""

from __future__ import annotations

from sqlalchemy import func, select, update

from calsync.context import AppContext
from calsync.meetings.backfill import MeetingBackfillLoop
from calsync.meetings.loop import evaluate_all
from calsync.store.models import CalendarEvent
from calsync.sync.meeting_keys import event_meeting_id
from calsync_emulator.client import EmulatorControl
from tests.bots.support import tomorrow
from tests.meetings.support import calendar, create_rule, events_of, invite, live_bots
from tests.support.service import Tenant


async def _forget_meetings(context: AppContext) -> None:
    """The rows as migration 0006 left them: no meeting yet."""
    async with context.db.write() as session:
        await session.execute(update(CalendarEvent).values(meeting_object_id=None))


async def test_old_events_get_their_meeting_and_then_a_rules_bot(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    start = tomorrow()
    ada = await calendar(control, tenant, "ada@acme.test")
    bob = await calendar(control, tenant, "bob@acme.test", platform="microsoft")
    for cal in (ada, bob):
        await invite(control, cal, start)
        await cal.sync(context, evaluate=False)
    await _forget_meetings(context)
    await evaluate_all(context)
    await create_rule(tenant, bot_name="Notes")
    await evaluate_all(context)
    assert await live_bots(tenant) == []  # no event is in a meeting: no rule can select one

    loop = MeetingBackfillLoop(context, batch_size=1)  # one event per transaction: batches follow each other
    given = [await loop.run_once() for _ in range(3)]
    assert given == [1, 1, 0] and loop.done
    assert await loop.run_once() == 0  # done for good: no further query
    await evaluate_all(context)

    async with context.db.read() as session:
        rows = (await session.execute(select(CalendarEvent))).scalars().all()
    expected = {
        event_meeting_id(
            tenant.project_id,
            {
                "start_time": row.start_time,
                "meeting_url": row.meeting_url,
                "ical_uid": row.ical_uid,
                "calendar_id": row.calendar_id,
                "platform_uuid": row.platform_uuid,
            },
        )
        for row in rows
    }
    assert len(expected) == 1  # the two copies are one meeting
    assert {event["meeting_id"] for cal in (ada, bob) for event in await events_of(tenant, cal)} == expected
    [bot] = await live_bots(tenant)
    assert bot["meeting_id"] in expected and bot["bot_name"] == "Notes"


async def test_nothing_to_backfill_is_one_look(context: AppContext, tenant: Tenant) -> None:
    loop = MeetingBackfillLoop(context)
    assert await loop.run_once() == 0 and loop.done
    async with context.db.read() as session:
        assert (await session.execute(select(func.count()).select_from(CalendarEvent))).scalar_one() == 0
