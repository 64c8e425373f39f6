"""A sync's writes: each in one short transaction that first checks this worker still holds the calendar's lease
(a fence: a worker whose lease expired and was taken over can no longer write) and extends it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.context import AppContext
from calsync.store.models import Calendar

T = TypeVar("T")
Body = Callable[[AsyncSession, Calendar], Awaitable[T]]


# FOR NO KEY UPDATE: the fence changes no key, so it does not conflict with the foreign-key locks (FOR KEY SHARE)
# that inserts of this calendar's events and outbox rows take on the same row. Built once: every write of a sync
# runs it.
_FENCED = select(Calendar).where(Calendar.id == bindparam("calendar_id")).with_for_update(key_share=True)


class LeaseLost(Exception):
    """Another worker owns this calendar now (or it was deleted): stop without writing."""


class Fence:
    def __init__(self, context: AppContext, worker_id: str) -> None:
        self.context = context
        self.worker_id = worker_id

    async def write(self, calendar_id: int, body: Body[T], what: str) -> T:
        """`body` in one short write transaction behind the fence. Transient database faults re-run the whole
        transaction (bounded): every body derives its writes from what it reads here, so a re-run never writes
        anything twice."""

        async def fenced(session: AsyncSession) -> T:
            calendar = (await session.execute(_FENCED, {"calendar_id": calendar_id})).scalar_one_or_none()
            if calendar is None or calendar.lease_owner != self.worker_id:
                raise LeaseLost
            # Each write extends the lease, so a long full sync keeps it while it makes progress.
            calendar.lease_expires_at = self.context.clock() + timedelta(seconds=self.context.settings.lease_seconds)
            return await body(session, calendar)

        return await self.context.db.write_retrying(fenced, what=what)

    async def set(self, calendar_id: int, values: Mapping[str, Any], what: str) -> None:
        """Set the calendar's columns behind the fence."""

        async def assign(_session: AsyncSession, calendar: Calendar) -> None:
            for name, value in values.items():
                setattr(calendar, name, value)

        await self.write(calendar_id, assign, what)
