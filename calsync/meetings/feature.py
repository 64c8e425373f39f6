"""Meetings as a feature: which meetings the sync's changes and the calendars' lifecycle queue for evaluation
(calsync.sync.hooks), and the evaluation and backfill loops (registered by calsync.runtime)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from calsync.context import AppContext
from calsync.hooks import Hooks
from calsync.meetings import queue
from calsync.meetings.backfill import MeetingBackfillLoop
from calsync.meetings.loop import Busy, MeetingEvaluationLoop
from calsync.meetings.owner import owner_from_events
from calsync.settings import Settings
from calsync.sync.hooks import (
    CalendarConnected,
    CalendarDeleted,
    CalendarDeleting,
    CalendarDisconnected,
    EventsListed,
    PageWritten,
)
from calsync.worker.runner import WorkLoop


async def _events_listed(session: AsyncSession, event: EventsListed) -> bool:
    # A platform that does not name the calendar's owner shows it in its events (internal/external, own events).
    if event.calendar.owner_email is None:
        event.calendar.owner_email = owner_from_events(event.events)
    return False


async def _page_written(session: AsyncSession, event: PageWritten) -> bool:
    # Both meetings of an event that moved between them are queued (insert only: no lock taken); the meetings of
    # the other rows it writes are found by the evaluation from their change numbers (meetings.scan).
    return await queue.enqueue(session, event.calendar.project_id, event.plan.meetings, event.now) > 0


async def _connected(session: AsyncSession, event: CalendarConnected) -> bool:
    # Rule bots paused on another calendar's copy of its meetings move here (re-evaluated).
    waiting = await queue.meetings_waiting_for(session, event.calendar.id)
    return await queue.enqueue(session, event.calendar.project_id, waiting, event.now) > 0


async def _disconnected(session: AsyncSession, event: CalendarDisconnected) -> bool:
    # Its meetings are re-evaluated: a rule bot moves onto a copy on a connected calendar, if any.
    served = await queue.meetings_served_from(session, event.calendar.id)
    return await queue.enqueue(session, event.calendar.project_id, served, event.now) > 0


async def _deleting(session: AsyncSession, event: CalendarDeleting) -> bool:
    # A rule's bot whose meeting has a copy on another calendar stays live: the evaluation moves it there.
    event.kept_bots.update(await queue.bots_with_other_copies(session, event.calendar.id, event.calendar.project_id))
    return False


async def _deleted(session: AsyncSession, event: CalendarDeleted) -> bool:
    # Its meetings are queued: their evaluation moves a kept bot onto a remaining copy or gives a meeting that
    # lost its bot a new one.
    meetings = await queue.meetings_of_calendar(session, event.calendar.id)
    return await queue.enqueue(session, event.calendar.project_id, meetings, event.now) > 0


def subscribe(hooks: Hooks, settings: Settings) -> None:
    hooks.subscribe(EventsListed, _events_listed)
    hooks.subscribe(PageWritten, _page_written)
    hooks.subscribe(CalendarConnected, _connected)
    hooks.subscribe(CalendarDisconnected, _disconnected)
    hooks.subscribe(CalendarDeleting, _deleting)
    hooks.subscribe(CalendarDeleted, _deleted)


def loops(context: AppContext, sync: Busy) -> list[WorkLoop]:
    # The backfill stamps events stored before meetings existed; it stops when none is left.
    return [MeetingEvaluationLoop(context, defer_to=sync), MeetingBackfillLoop(context)]
