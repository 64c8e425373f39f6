"""Migrations apply, roll back and re-apply on both databases, and match the models."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from calsync.store.migrate import downgrade, upgrade
from calsync.store.models import Base


async def _diff(url: str) -> list[object]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
    finally:
        await engine.dispose()


async def test_migrations_round_trip_and_match_models(database_url: str) -> None:
    assert await _diff(database_url) == [], "the migrated schema equals the models"
    await asyncio.to_thread(downgrade, database_url, "base")
    await asyncio.to_thread(upgrade, database_url)
    assert await _diff(database_url) == []
