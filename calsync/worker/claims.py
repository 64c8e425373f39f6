"""Claiming due calendars with a lease (the calendars' queue: calsync.store.due_work.CALENDAR_SYNCS).

A claim moves the due time to the lease expiry, so a worker that dies leaves the calendar due again exactly when
its lease runs out — no separate recovery step."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from calsync.store.db import Database
from calsync.store.due_work import CALENDAR_SYNCS


@dataclass(frozen=True)
class Claim:
    calendar_id: int
    due_at: datetime  # the due time the claim set (= lease expiry); anything earlier was requested mid-sync
    reason: str | None


async def claim_due_calendars(
    db: Database, worker_id: str, now: datetime, *, limit: int, lease_seconds: float
) -> list[Claim]:
    if limit <= 0:
        return []
    lease_until = now + timedelta(seconds=lease_seconds)
    async with db.write() as session:
        rows = await CALENDAR_SYNCS.lease(
            session,
            now,
            owner=worker_id,
            until=lease_until,
            limit=limit,
            returning=(CALENDAR_SYNCS.model.sync_reason,),
        )
        return [Claim(calendar_id=row[0], due_at=lease_until, reason=row[1]) for row in rows]


async def seconds_until_next_due(db: Database, now: datetime) -> float | None:
    """Time until the earliest future due time (an index-only lookup), or None when nothing is scheduled."""
    return await CALENDAR_SYNCS.seconds_until_due(db, now, what="next_calendar_due")
