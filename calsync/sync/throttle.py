"""Throttling is a property of the OAuth client, not of one calendar: all its calendars slow down together."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.store.db import Database
from calsync.store.models import OAuthClientThrottle


async def read_throttles(
    session: AsyncSession, clients: Collection[tuple[str, str]], now: datetime
) -> dict[tuple[str, str], datetime]:
    """Until when the platform throttles each of these (platform, client id), for those it throttles now."""
    if not clients:
        return {}
    rows = await session.execute(
        select(OAuthClientThrottle.platform, OAuthClientThrottle.client_id, OAuthClientThrottle.throttled_until).where(
            or_(
                *(
                    and_(OAuthClientThrottle.platform == platform, OAuthClientThrottle.client_id == client_id)
                    for platform, client_id in sorted(clients)
                )
            )
        )
    )
    return {(platform, client_id): until for platform, client_id, until in rows if until > now}


async def record_throttle(db: Database, platform: str, client_id: str, until: datetime) -> None:
    insert = pg_insert if not db.is_sqlite else sqlite_insert
    stmt = insert(OAuthClientThrottle).values(platform=platform, client_id=client_id, throttled_until=until)
    stmt = stmt.on_conflict_do_update(
        index_elements=["platform", "client_id"], set_={"throttled_until": stmt.excluded.throttled_until}
    )
    async with db.write() as session:
        await session.execute(stmt)
