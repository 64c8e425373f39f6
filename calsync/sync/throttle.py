"""Throttling is a property of the OAuth client, not of one calendar: all its calendars slow down together."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.store.db import Database
from calsync.store.models import OAuthClientThrottle


async def read_throttle(session: AsyncSession, platform: str, client_id: str, now: datetime) -> datetime | None:
    """Until when the platform throttles the OAuth client, if it does now (in the caller's transaction)."""
    until = (
        await session.execute(
            select(OAuthClientThrottle.throttled_until).where(
                OAuthClientThrottle.platform == platform, OAuthClientThrottle.client_id == client_id
            )
        )
    ).scalar_one_or_none()
    return until if until is not None and until > now else None


async def record_throttle(db: Database, platform: str, client_id: str, until: datetime) -> None:
    insert = pg_insert if not db.is_sqlite else sqlite_insert
    stmt = insert(OAuthClientThrottle).values(platform=platform, client_id=client_id, throttled_until=until)
    stmt = stmt.on_conflict_do_update(
        index_elements=["platform", "client_id"], set_={"throttled_until": stmt.excluded.throttled_until}
    )
    async with db.write() as session:
        await session.execute(stmt)
