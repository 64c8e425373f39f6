"""A calendar's next check, decided at the end of each successful sync from the calendar's own events: the sync
core knows a meeting is coming up from the event's meeting URL, without asking the features that act on it
(calsync.sync.schedule holds the policy)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.settings import Settings
from calsync.store.models import Calendar, CalendarEvent
from calsync.sync import schedule

# Built once (every sync's success runs it): building a statement costs more Python than executing a cached one.
_NEXT_MEETING_START = (
    select(CalendarEvent.start_time)
    .where(
        CalendarEvent.calendar_id == bindparam("calendar_id"),
        CalendarEvent.start_time > bindparam("after"),
        CalendarEvent.start_time < bindparam("before"),
        CalendarEvent.is_deleted.is_(False),
        CalendarEvent.meeting_url.is_not(None),
    )
    .order_by(CalendarEvent.start_time)
    .limit(1)
)


async def next_meeting_start(
    session: AsyncSession, calendar_id: int, after: datetime, before: datetime
) -> datetime | None:
    """The first start in (after, before) of a live event with a meeting URL: one walk along the calendar's
    start-time index that stops at the first match."""
    parameters = {"calendar_id": calendar_id, "after": after, "before": before}
    # On the session's connection: a Core read skips the ORM's execution (events are never pending in the session).
    connection = await session.connection()
    return (await connection.execute(_NEXT_MEETING_START, parameters)).scalar_one_or_none()


async def plan_next_check(
    session: AsyncSession, calendar: Calendar, now: datetime, settings: Settings
) -> schedule.NextCheck:
    """The calendar's next check when nothing asks sooner; records when its next meeting's check window opens."""
    push_healthy = calendar.push_state == "active"
    start = await next_meeting_start(
        session,
        calendar.id,
        schedule.unchecked_meetings_from(now, calendar.access_token_refreshed_at, settings),
        schedule.meeting_horizon(now, settings, push_healthy=push_healthy),
    )
    plan = schedule.next_check(now, calendar.object_id, settings, push_healthy=push_healthy, next_meeting_start=start)
    calendar.meeting_check_opens_at = plan.meeting_check_opens_at
    return plan
