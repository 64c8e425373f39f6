"""Adding a row whose `deduplication_key` must be unique among its project's live rows (calendars, bots)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.store.models import Base


class DuplicateDeduplicationKey(Exception):
    pass


async def add_with_deduplication_key(session: AsyncSession, row: Base) -> None:
    """Insert `row` now; a clash on its deduplication key's unique index becomes DuplicateDeduplicationKey. The
    savepoint keeps the caller's transaction usable after the clash."""
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        if "deduplication_key" in str(exc.orig):
            raise DuplicateDeduplicationKey from exc
        raise
