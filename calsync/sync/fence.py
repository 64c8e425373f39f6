"""A sync's writes: each in one short transaction that first checks this worker still holds the calendar's lease
(a fence: a worker whose lease expired and was taken over can no longer write) and extends it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.context import AppContext
from calsync.store.models import Calendar

T = TypeVar("T")
Body = Callable[[AsyncSession, Calendar], Awaitable[T]]


def _fence(values: Mapping[str, Any]) -> Any:
    """The fence's statement, setting `values` too. Its parameters are bound at execution: the statement without
    values is built once, so its SQL is looked up by a cache key computed once, not built anew for every write."""
    return (
        update(Calendar)
        .where(Calendar.id == bindparam("fence_calendar_id"), Calendar.lease_owner == bindparam("fence_owner"))
        .values(lease_expires_at=bindparam("fence_expires"), **values)
        .returning(Calendar)
        .execution_options(synchronize_session=False)
    )


_FENCE = _fence({})
_CALENDARS = cast(Table, Calendar.__table__)


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
        return await self._write(calendar_id, body, what, {})

    async def set(self, calendar_id: int, values: Mapping[str, Any], what: str) -> None:
        """Set the calendar's columns behind the fence, in the very statement that checks the lease."""

        async def nothing(_session: AsyncSession, _calendar: Calendar) -> None:
            return None

        await self._write(calendar_id, nothing, what, values)

    async def set_if(
        self, calendar_id: int, values: Mapping[str, Any], unchanged: Mapping[str, Any], what: str
    ) -> bool:
        """Set the calendar's columns behind the fence if its columns `unchanged` still hold these values, in one
        Core statement (no ORM row loaded, nothing flushed); False when they do not, or the lease is lost: the
        caller then writes the way that reads the row (`write`, which tells a lost lease)."""
        table = _CALENDARS
        expires = self.context.clock() + timedelta(seconds=self.context.settings.lease_seconds)
        statement = (
            update(table)
            .where(
                table.c.id == calendar_id,
                table.c.lease_owner == self.worker_id,
                *(table.c[column] == value for column, value in unchanged.items()),
            )
            .values(lease_expires_at=expires, **values)
            .returning(table.c.id)
        )

        async def fenced(session: AsyncSession) -> bool:
            return (await session.execute(statement)).first() is not None

        return await self.context.db.write_retrying(fenced, what=what)

    async def _write(self, calendar_id: int, body: Body[T], what: str, values: Mapping[str, Any]) -> T:
        async def fenced(session: AsyncSession) -> T:
            # The lease is checked and extended by one statement (a SELECT and an UPDATE were two round trips on
            # every write of a sync, a push's page write included). An UPDATE of non-key columns locks the row FOR
            # NO KEY UPDATE, which does not conflict with the foreign-key locks (FOR KEY SHARE) that inserts of this
            # calendar's events and outbox rows take; one that waited for the row re-checks the owner on the version
            # its predecessor committed. Each write extends the lease, so a long full sync keeps it while it makes
            # progress.
            expires = self.context.clock() + timedelta(seconds=self.context.settings.lease_seconds)
            parameters = {"fence_calendar_id": calendar_id, "fence_owner": self.worker_id, "fence_expires": expires}
            statement = _FENCE if not values else _fence(values)
            calendar = (await session.execute(statement, parameters)).scalar_one_or_none()
            if calendar is None:
                raise LeaseLost
            return await body(session, calendar)

        return await self.context.db.write_retrying(fenced, what=what)
