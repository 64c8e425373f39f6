"""Claiming due calendars with a lease (the calendars' queue: calsync.store.due_work.CALENDAR_SYNCS).

A claim moves the due time to the lease expiry, so a worker that dies leaves the calendar due again exactly when
its lease runs out — no separate recovery step."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from calsync.store.db import Database
from calsync.store.due_work import CALENDAR_SYNCS
from calsync.sync.snapshot import CalendarSnapshot

# Reads what the syncs of the claimed calendars start from, in the claim's transaction.
SnapshotReader = Callable[[AsyncSession, list[int]], Awaitable[Mapping[int, CalendarSnapshot]]]


@dataclass(frozen=True)
class Claim:
    calendar_id: int
    due_at: datetime  # the due time the claim set (= lease expiry); anything earlier was requested mid-sync
    reason: str | None
    snapshot: CalendarSnapshot | None = None  # read by the claim's transaction, when it was asked to


async def claim_due_calendars(
    db: Database,
    worker_id: str,
    now: datetime,
    *,
    limit: int,
    lease_seconds: float,
    read_snapshots: SnapshotReader | None = None,
) -> list[Claim]:
    """Lease up to `limit` due calendars; with `read_snapshots`, also read their syncs' snapshots in the same
    transaction (a push's sync then makes no transaction of its own before its platform call)."""
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
        ids = [int(row[0]) for row in rows]
        snapshots = await read_snapshots(session, ids) if read_snapshots is not None and ids else {}
        return [
            Claim(calendar_id=row[0], due_at=lease_until, reason=row[1], snapshot=snapshots.get(row[0])) for row in rows
        ]


async def seconds_until_next_due(db: Database, now: datetime) -> float | None:
    """Time until the earliest future due time (an index-only lookup), or None when nothing is scheduled."""
    return await CALENDAR_SYNCS.seconds_until_due(db, now, what="next_calendar_due")
