"""Catch-up syncs after a time in which push notifications may have been refused.

Platforms deliver a notification once or retry it for a while; a process that was down, or could not reach its
database, may have refused some. When that may have happened, every calendar with an active push channel gets
an incremental sync (one platform call each, usually answering "no changes") at `CATCH_UP_RATE` calendars a
second, however large the fleet: a restart of `calsync api` must not turn into a burst of checks that takes the
workers' cores and the platforms' quotas (100,000 calendars: 5,000 s, not 10 minutes at 167 a second). The
calendars whose next check is soonest (those with a meeting coming up: calsync.sync.schedule) take the first
slots, so the catch-up reaches them first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.store.models import Calendar

CATCH_UP_RATE = 20.0  # calendars per second, across all platforms
MIN_SPREAD = timedelta(seconds=2)
REASON = "push_catchup"


def spread_for(count: int) -> timedelta:
    return max(MIN_SPREAD, timedelta(seconds=count / CATCH_UP_RATE))


def plan_catch_up(due_times: Sequence[tuple[int, datetime | None]], now: datetime) -> list[dict[str, Any]]:
    """New due times for (calendar id, due time) pairs: slots `1 / CATCH_UP_RATE` s apart, soonest due first, never
    later than a calendar's own due time. The changes come in id order, the lock order of every multi-calendar
    write (push receivers)."""
    # A calendar with no due time is disconnected (waiting for new credentials): nothing to catch up.
    waiting = sorted(((due, calendar_id) for calendar_id, due in due_times if due is not None))
    if not waiting:
        return []
    spread = spread_for(len(waiting))
    changes: list[dict[str, Any]] = []
    for index, (due, calendar_id) in enumerate(waiting):
        slot = now + spread * (index / len(waiting))
        if slot < due:
            changes.append({"id": calendar_id, "sync_due_at": slot, "sync_reason": REASON})
    return sorted(changes, key=lambda change: change["id"])


async def schedule_catch_up(session: AsyncSession, now: datetime) -> int:
    """Bring the due time of every calendar with an active push channel to its slot in the catch-up; returns how
    many calendars were scheduled."""
    rows = (
        await session.execute(
            select(Calendar.id, Calendar.sync_due_at).where(
                Calendar.push_state == "active", Calendar.deleted_at.is_(None)
            )
        )
    ).all()
    changes = plan_catch_up([(calendar_id, due) for calendar_id, due in rows], now)
    if changes:
        await session.execute(update(Calendar), changes)
    return len(changes)
