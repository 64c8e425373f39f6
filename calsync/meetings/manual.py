"""Bots the application creates by hand on a calendar event count as their meeting's bot: while one is live, the
rules give the meeting none (calsync.meetings.evaluate). Creating or ending one queues its meeting."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.bots import lifecycle
from calsync.bots import rules as bot_rules
from calsync.bots.lifecycle import BotChanges
from calsync.meetings import queue
from calsync.store.models import Bot, CalendarEvent


async def manual_bot_changed(session: AsyncSession, bot: Bot, now: datetime) -> None:
    """In the transaction that created or ended `bot`: its meeting is re-evaluated after the commit (the caller
    kicks its work signal)."""
    if bot.meeting_object_id is not None or bot.event_id is None:
        return  # a rule's bot (the evaluation made the change), or one without an event (no meeting)
    statement = select(CalendarEvent.meeting_object_id).where(CalendarEvent.id == bot.event_id)
    meeting = (await session.execute(statement)).scalar_one_or_none()
    if meeting is not None:
        await queue.enqueue(session, bot.project_id, [meeting], now)


async def cancel_bot(
    session: AsyncSession, project_id: int, object_id: str, now: datetime, reason: bot_rules.Reason
) -> tuple[Bot, BotChanges] | None:
    """`DELETE /api/v1/bots/{id}` and the dashboard's Cancel: the bot is cancelled for good (calsync.bots), and
    the meeting of one created by hand is re-evaluated (the rules may give it a bot again). None when the project
    has no such bot; the caller commits, then kicks its work signal."""
    cancelled = await lifecycle.cancel_bot(session, project_id, object_id, now, reason)
    if cancelled is not None:
        await manual_bot_changed(session, cancelled[0], now)
    return cancelled
