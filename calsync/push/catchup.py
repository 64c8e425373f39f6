"""Catch-up syncs after a time in which push notifications may have been refused.

Platforms deliver a notification once or retry it for a while; a process that was down, or could not reach its
database, may have refused some. When that may have happened, every calendar with an active push channel gets
an incremental sync (one platform call each, usually answering "no changes"), spread over
`spread_for(count)` so the platforms see a steady trickle rather than a burst: `CATCH_UP_RATE` calendars a
second, at least `MIN_SPREAD` and at most `MAX_SPREAD` for the whole fleet (10,000 calendars: 500 s)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.store.models import Calendar

CATCH_UP_RATE = 20.0  # calendars per second, across all platforms
MIN_SPREAD = timedelta(seconds=2)
MAX_SPREAD = timedelta(minutes=10)
REASON = "push_catchup"


def spread_for(count: int) -> timedelta:
    return min(MAX_SPREAD, max(MIN_SPREAD, timedelta(seconds=count / CATCH_UP_RATE)))


async def schedule_catch_up(session: AsyncSession, now: datetime) -> int:
    """Bring the due time of every calendar with an active push channel to a slot in the spread (never later
    than it already is); returns how many calendars were scheduled."""
    rows = (
        await session.execute(
            select(Calendar.id, Calendar.sync_due_at)
            .where(Calendar.push_state == "active", Calendar.deleted_at.is_(None))
            .order_by(Calendar.id)
        )
    ).all()
    if not rows:
        return 0
    spread = spread_for(len(rows))
    changes: list[dict[str, Any]] = []
    for index, (calendar_id, due) in enumerate(rows):
        slot = now + spread * (index / len(rows))
        # A calendar with no due time is disconnected (waiting for new credentials): nothing to catch up.
        if due is not None and slot < due:
            changes.append({"id": calendar_id, "sync_due_at": slot, "sync_reason": REASON})
    if changes:
        # By primary key, in id order: the same order as every other multi-calendar lock (push receivers).
        await session.execute(update(Calendar), changes)
    return len(changes)
