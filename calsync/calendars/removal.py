"""Deleting a calendar (API, dashboard, CLI alike): the features hear it, then the rows go.

In one transaction: the features say which of its bots stay live (`CalendarDeleting`: a rule's bot whose meeting has
a copy on another calendar), then act on the deletion (`CalendarDeleted`: its other live bots are cancelled, its
meetings queued so that their evaluation moves a kept bot onto a remaining copy or gives a meeting that lost its bot
a new one); then its events and row are deleted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from calsync.hooks import Hooks
from calsync.store.models import Calendar
from calsync.store.queries import calendars as calendar_queries
from calsync.store.work_signal import notify_work_in_transaction
from calsync.sync.hooks import CalendarDeleted, CalendarDeleting


async def delete_calendar(session: AsyncSession, hooks: Hooks, calendar: Calendar, now: datetime) -> None:
    """The caller holds the calendar row (`for_update`), commits, then kicks its process's work signal."""
    deleting = CalendarDeleting(calendar, now)
    await hooks.publish(session, deleting)
    await hooks.publish(session, CalendarDeleted(calendar, now, kept_bots=frozenset(deleting.kept_bots)))
    await calendar_queries.delete_calendar(session, calendar, now)
    await notify_work_in_transaction(session)
