"""Engines and transactions. `read()` and `write()` make the intent of every transaction explicit:
on SQLite a write transaction starts with BEGIN IMMEDIATE (so concurrent writers queue on the busy timeout
instead of failing when a read lock is upgraded) while reads stay concurrent under WAL."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from calsync import json_codec
from calsync.settings import Settings
from calsync.store.transient import run_with_retries, transient_kind

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000

# JSON columns (raw payloads, attendees) are encoded and decoded on every event write and API page.
JSON_CODEC: dict[str, Any] = {"json_serializer": json_codec.dumps_text, "json_deserializer": json_codec.loads}


def _sqlite_engine(url: str, *, immediate: bool) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **JSON_CODEC)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves (pysqlite's implicit BEGIN is DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@dataclass(frozen=True)
class PoolBudget:
    """How many PostgreSQL connections one process may hold: `size` kept open, `overflow` more under load, and how
    long a transaction waits for a free one. A wait that runs out is a transient fault (calsync.store.transient):
    the work is retried, not failed. docs/architecture.md ("Database connections") adds up a deployment."""

    size: int = 5
    overflow: int = 5
    timeout_seconds: float = 30.0


def pooler_connect_args(pooler: str) -> dict[str, Any]:
    """asyncpg's arguments behind a pooler. PgBouncer's transaction pooling hands a server connection to another
    client after every transaction, so no prepared statement may be reused across transactions or collide by name
    with another client's: no statement cache (asyncpg's or SQLAlchemy's dialect's), and unique names."""
    if pooler == "none":
        return {}
    return {
        "statement_cache_size": 0,
        "prepared_statement_cache_size": 0,
        "prepared_statement_name_func": lambda: f"__calsync_{uuid.uuid4().hex}__",
    }


class Database:
    def __init__(self, url: str, *, pool: PoolBudget | None = None, pooler: str = "none") -> None:
        pool = pool or PoolBudget()
        self.url = url
        self.pooler = pooler
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.read_engine = _sqlite_engine(url, immediate=False)
            self.write_engine = _sqlite_engine(url, immediate=True)
        else:
            # No pool_pre_ping: the asyncpg dialect pings with BEGIN, a query and ROLLBACK, three round trips on
            # every checkout, which was a quarter of a worker's CPU per calendar (bench/initial_sync.py). After a
            # server restart the first statement on a dead connection fails instead; SQLAlchemy then invalidates
            # the whole pool, the sync records the failure and is retried, an API call answers a JSON 500 once.
            self.read_engine = create_async_engine(
                url,
                pool_size=pool.size,
                max_overflow=pool.overflow,
                pool_timeout=pool.timeout_seconds,
                connect_args=pooler_connect_args(pooler),
                **JSON_CODEC,
            )
            self.write_engine = self.read_engine
        self._writer_gate: asyncio.Lock | None = None
        self._writer_gate_loop: asyncio.AbstractEventLoop | None = None
        self._read = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._write = async_sessionmaker(self.write_engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        budget = PoolBudget(settings.db_pool_size, settings.db_max_overflow, settings.db_pool_timeout_seconds)
        return cls(settings.resolved_database_url, pool=budget, pooler=settings.database_pooler)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._read() as session, session.begin():
            yield session

    @asynccontextmanager
    async def driver_read(self) -> AsyncIterator[Any]:
        """A pooled PostgreSQL connection's asyncpg connection, outside any transaction (but behind a pooler): for a
        read that is one statement (its own snapshot), without the session's BEGIN and COMMIT or SQLAlchemy's
        execution."""
        assert not self.is_sqlite
        async with self.read_engine.connect() as connection:
            fairy = await connection.get_raw_connection()
            driver = fairy.driver_connection
            assert driver is not None
            try:
                if self.pooler == "none":
                    yield driver
                else:
                    # Behind a transaction pooler, a statement's prepare and execute (two round trips, unnamed)
                    # must reach the same server connection: only an open transaction holds it.
                    async with driver.transaction():
                        yield driver
            except BaseException as error:
                # A statement interrupted or failed on the wire leaves the connection in an unknown state.
                await connection.invalidate()
                if isinstance(error, Exception) and transient_kind(error) is not None:
                    # The server may have ended every pooled connection (a restart): start a fresh pool, as
                    # SQLAlchemy does on its own disconnects, so a replayed read does not meet the next dead one.
                    await self.read_engine.dispose(close=False)
                raise

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One transaction; commits on success, rolls back on any exception."""
        # SQLite admits one writer at a time. Left to the busy handler, waiting writers sleep and poll (1, 2, 5 …
        # 100 ms), so the lock sits idle between them; queueing this process's writers here hands it over at once
        # (bench/initial_sync.py). The busy timeout still arbitrates between processes.
        gate = self._sqlite_writer_gate() if self.is_sqlite else contextlib.nullcontext()
        async with gate, self._write() as session, session.begin():
            yield session

    async def write_retrying(
        self, body: Callable[[AsyncSession], Awaitable[T]], *, what: str, attempts: int = 5, max_delay: float = 2.0
    ) -> T:
        """`body` in one write transaction, run again on transient faults (calsync.store.transient): `body` must
        derive what it writes from what it reads, so a re-run after an unknown commit outcome is harmless."""

        async def once() -> T:
            async with self.write() as session:
                return await body(session)

        return await run_with_retries(once, what=what, attempts=attempts, max_delay=max_delay)

    async def read_retrying(self, body: Callable[[AsyncSession], Awaitable[T]], *, what: str) -> T:
        async def once() -> T:
            async with self.read() as session:
                return await body(session)

        return await run_with_retries(once, what=what)

    def _sqlite_writer_gate(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._writer_gate is None or self._writer_gate_loop is not loop:
            # An asyncio.Lock belongs to one event loop; a Database used from another loop (tests) gets its own.
            self._writer_gate, self._writer_gate_loop = asyncio.Lock(), loop
        return self._writer_gate

    async def ping(self) -> None:
        async with self.read() as session:
            await session.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            await self.write_engine.dispose()
