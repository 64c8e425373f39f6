"""Database faults that are expected events, not bugs: a deadlock, a serialization failure, a dropped or refused
connection, a pool that has no connection free in time, SQLite's lock timeout.

Each has one action: run the transaction again (bounded, with a short jittered backoff), and if the database
stays unhealthy, hand the work back to be retried soon, never record it as failed work. Everything else is a bug
and propagates.

Re-running a transaction is safe here because every write transaction of calsync derives what it writes from
what it reads in the same transaction (a sync page is compared with the stored rows; a claim selects what is
due). If a commit's outcome is unknown (the connection dropped during COMMIT), the re-run finds the committed
state and writes nothing twice."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import structlog
from prometheus_client import Counter
from sqlalchemy import exc as sa_exc

log = structlog.get_logger(__name__)

T = TypeVar("T")

# SQLSTATEs: 40001 serialization_failure, 40P01 deadlock_detected, 53300 too_many_connections,
# 57P01 admin_shutdown (pg_terminate_backend), 57P02 crash_shutdown, 57P03 cannot_connect_now,
# 55P03 lock_not_available, 55000 object_not_in_prerequisite_state (a database not accepting connections, as
# during maintenance). Class 08 (connection exceptions) is matched by prefix.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "53300", "57P01", "57P02", "57P03", "55P03", "55000"})
# SQLite: "database is locked" / "database table is locked" after the busy timeout.
_SQLITE_TRANSIENT = ("database is locked", "database table is locked")
# asyncpg's words for a connection closed in the middle of an operation (its COPY leaves the next call with the
# second one).
_ASYNCPG_CLOSED_CONNECTION = (
    "connection is closed",
    "connection was closed",
    "another operation is in progress",
    # The driver's protocol left mid-operation by a connection the server ended (pg_terminate_backend, a restart).
    "cannot switch to state",
)

RETRIES = Counter(
    "calsync_db_transient_errors_total",
    "Transient database errors (deadlock, serialization, dropped/refused connection), by SQLSTATE or kind",
    ["kind"],
)


class DatabaseUnavailable(Exception):
    """Transient faults persisted through every retry: the work is handed back, not marked failed."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"database unavailable ({kind})")
        self.kind = kind


def sqlstate(error: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE of an error, looking through SQLAlchemy's and the driver's wrappers."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for attribute in ("sqlstate", "pgcode"):
            value = getattr(current, attribute, None)
            if isinstance(value, str) and value:
                return value
        current = getattr(current, "orig", None) or current.__cause__
    return None


def transient_kind(error: BaseException) -> str | None:
    """A short label when `error` is a transient database fault, else None."""
    if isinstance(error, DatabaseUnavailable):
        return error.kind
    if isinstance(error, sa_exc.TimeoutError):
        return "pool_timeout"
    code = sqlstate(error)
    if code is not None and (code in TRANSIENT_SQLSTATES or code.startswith("08")):
        return code
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return "disconnect"
        message = str(error.orig).lower()
        if any(text in message for text in _SQLITE_TRANSIENT):
            return "sqlite_locked"
        if any(text in message for text in _ASYNCPG_CLOSED_CONNECTION):
            return "disconnect"
        if isinstance(error.orig, OSError) or ("connection" in message and "closed" in message):
            return "disconnect"
        return None
    if isinstance(error, ConnectionError | OSError | TimeoutError):
        # Raised by the driver while connecting (refused, reset, server gone) before SQLAlchemy wraps anything.
        return "connect"
    if isinstance(error, asyncpg.exceptions.InterfaceError | asyncpg.exceptions.InternalClientError) and any(
        text in str(error) for text in _ASYNCPG_CLOSED_CONNECTION
    ):
        # Raised by the driver used directly (the events COPY, the API's one-statement pages) on a connection that
        # was closed under it.
        return "disconnect"
    return None


def is_transient(error: BaseException) -> bool:
    return transient_kind(error) is not None


async def run_with_retries(
    transaction: Callable[[], Awaitable[T]],
    *,
    what: str,
    attempts: int = 5,
    base_delay: float = 0.05,
    max_delay: float = 2.0,
    rng: random.Random | None = None,
) -> T:
    """Run `transaction` (one whole transaction, begin to commit) again on transient faults.

    Delays grow 0.05, 0.1, 0.2 … seconds (full jitter, capped); after `attempts` tries the last fault is raised
    as DatabaseUnavailable."""
    rng = rng or random.Random()
    for attempt in range(1, attempts + 1):
        try:
            return await transaction()
        except Exception as error:
            kind = transient_kind(error)
            if kind is None:
                raise
            RETRIES.labels(kind).inc()
            if attempt == attempts:
                log.warning("db_unavailable", what=what, kind=kind, attempts=attempts)
                raise DatabaseUnavailable(kind) from error
            log.info("db_transient_retry", what=what, kind=kind, attempt=attempt)
            await asyncio.sleep(rng.uniform(0.5, 1.0) * min(max_delay, base_delay * 2 ** (attempt - 1)))
    raise AssertionError("unreachable")
