"""Deleting a calendar (API, dashboard, CLI alike): what happens to its bots and its meetings, then the rows go.

In one transaction: its live bots are cancelled (`calendar_deleted`), except a rule's bot whose meeting has a copy
on another calendar, which stays live; its meetings are queued, so that their evaluation moves such a bot onto a
remaining copy (the same bot) or gives a meeting that lost its bot a new one; then its events and row are deleted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from calsync.bots import lifecycle as bot_lifecycle
from calsync.meetings import queue
from calsync.store.models import Calendar
from calsync.store.queries import calendars as calendar_queries
from calsync.store.work_signal import notify_work_in_transaction


async def delete_calendar(session: AsyncSession, calendar: Calendar, now: datetime) -> None:
    """The caller holds the calendar row (`for_update`), commits, then kicks its process's work signal."""
    handed_over = await queue.bots_with_other_copies(session, calendar.id, calendar.project_id)
    # (while its events still exist: the bots' last state names them)
    bots = await bot_lifecycle.calendar_deleted(session, calendar, now, handed_over=handed_over)
    await bots.write(session, now)
    await queue.enqueue(session, calendar.project_id, await queue.meetings_of_calendar(session, calendar.id), now)
    await calendar_queries.delete_calendar(session, calendar, now)
    await notify_work_in_transaction(session)
