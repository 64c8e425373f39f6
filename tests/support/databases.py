"""Real databases for tests: a migrated SQLite template copied per test, and a PostgreSQL database created
once per session and truncated between tests.

PostgreSQL comes from CALSYNC_TEST_POSTGRES_URL (default: the local server at 127.0.0.1:5432). When it is
unreachable the PostgreSQL variants are skipped locally, but fail when CALSYNC_REQUIRE_POSTGRES=1 (CI)."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from calsync.store.migrate import upgrade
from calsync.store.models import Base

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def postgres_admin_url() -> str:
    return os.environ.get("CALSYNC_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def postgres_required() -> bool:
    return os.environ.get("CALSYNC_REQUIRE_POSTGRES") == "1"


def _asyncpg_dsn(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def waiting_for_a_lock(database_url: str) -> bool:
    """Whether a session of this PostgreSQL database waits for a lock now (from its own connection)."""
    connection = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        waiting: int = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return waiting > 0
    finally:
        await connection.close()


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(postgres_admin_url()), timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


class PostgresDatabase:
    """One throw-away database per test session."""

    def __init__(self) -> None:
        self.name = f"calsync_test_{uuid.uuid4().hex[:10]}"
        self.url = make_url(postgres_admin_url()).set(database=self.name).render_as_string(hide_password=False)

    def create(self) -> None:
        asyncio.run(_admin(f'CREATE DATABASE "{self.name}"'))
        upgrade(self.url)

    def drop(self) -> None:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))

    async def truncate(self) -> None:
        engine = create_async_engine(self.url)
        try:
            names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
            async with engine.begin() as connection:
                await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        finally:
            await engine.dispose()


def start_postgres() -> PostgresDatabase | None:
    database = PostgresDatabase()
    try:
        database.create()
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        if postgres_required():
            pytest.fail(f"PostgreSQL is required (CALSYNC_REQUIRE_POSTGRES=1) but unreachable: {exc!r}")
        return None
    return database


class SqliteTemplate:
    def __init__(self, directory: Path) -> None:
        self.path = directory / "template.db"
        upgrade(f"sqlite+aiosqlite:///{self.path}")

    def fresh_url(self, directory: Path) -> str:
        target = directory / f"calsync-{uuid.uuid4().hex[:8]}.db"
        shutil.copyfile(self.path, target)
        return f"sqlite+aiosqlite:///{target}"
