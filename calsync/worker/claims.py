"""Claiming due calendars with a lease.

On PostgreSQL `FOR UPDATE SKIP LOCKED` lets any number of workers claim concurrently without blocking or
double-claiming; on SQLite the write transaction (BEGIN IMMEDIATE) is already exclusive. A claim moves the
due time to the lease expiry, so a worker that dies leaves the calendar due again exactly when its lease
runs out — no separate recovery step."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from calsync.store.db import Database
from calsync.store.models import Calendar


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
    due = (
        select(Calendar.id)
        .where(
            Calendar.sync_due_at <= now,
            or_(Calendar.lease_expires_at.is_(None), Calendar.lease_expires_at < now),
        )
        .order_by(Calendar.sync_due_at)
        .limit(limit)
    )
    if not db.is_sqlite:
        due = due.with_for_update(skip_locked=True)
    async with db.write() as session:
        rows = await session.execute(
            update(Calendar)
            .where(Calendar.id.in_(due.scalar_subquery()))
            .values(lease_owner=worker_id, lease_expires_at=lease_until, sync_due_at=lease_until)
            .returning(Calendar.id, Calendar.sync_reason)
            .execution_options(synchronize_session=False)
        )
        return [Claim(calendar_id=row[0], due_at=lease_until, reason=row[1]) for row in rows]


async def seconds_until_next_due(db: Database, now: datetime) -> float | None:
    """Time until the earliest future due time (an index-only lookup), or None when nothing is scheduled."""
    async with db.read() as session:
        due = (
            await session.execute(
                select(Calendar.sync_due_at).where(Calendar.sync_due_at > now).order_by(Calendar.sync_due_at).limit(1)
            )
        ).scalar_one_or_none()
    return None if due is None else (due - now).total_seconds()
