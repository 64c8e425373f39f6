"""The change horizon (PostgreSQL): event writers stamp and number their rows without a shared lock, and a reader
that pages by stamp (`updated_at`) or number (`change_seq`) reads only below a horizon under which every writer
has finished. docs/architecture.md, "`updated_at` and `change_seq` under a horizon", has the proof.

A writer registers itself in one statement (`REGISTER`): it takes two shared transaction-level advisory locks
whose keys are lower bounds of what it will take, a clock reading L and the least number N the sequence can give
next, and only then reads its stamp (`clock_timestamp()`, so ≥ L) and its numbers (`nextval`, so ≥ N). PostgreSQL releases the
locks when the transaction ends, after its commit is visible; nothing is written, so registering costs no commit,
and shared locks never wait for each other.

A reader first reads the horizon (`HORIZON`): the clock r0 and the least number s0 the sequence can give next,
then, after them (the lateral subquery needs their values), every key of both kinds in `pg_locks`. The stamp
horizon is the least of r0 and the stamp keys, the number horizon the least of s0 and the number keys. A writer whose lock the
reader saw takes stamps and numbers at or above its keys, so at or above the horizon; one it did not see took its
lock after `pg_locks` was read, so its stamp and numbers come after r0 and s0. Every row below the horizon is
therefore from a writer that had finished before the reader's next statement, whose snapshot (READ COMMITTED)
sees it. SQLite needs none of this: its writers run one at a time and stamp from the project's row
(calsync.sync.apply)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# The sequence every event write of every project takes its change numbers from (migration 0012).
SEQUENCE = "calendar_events_change_seq"

# Advisory keys are 64 bits: the top 8 name the kind, the low 56 hold the value (microseconds since 1970 reach
# 2^56 in the year 4253). calsync takes no other advisory lock; another application's lock that happened to
# carry one of these tags could only lower a horizon, never raise it.
STAMP_KIND = 0x43  # "C", the clock
NUMBER_KIND = 0x4E  # "N", the numbers
_VALUE_BITS = 56
_VALUE_MASK = (1 << _VALUE_BITS) - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROS = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint"
# The least number a nextval after this read can give.
_NEXT = "CASE WHEN is_called THEN last_value + 1 ELSE last_value END"


# A registered writer holds every reader's horizon back until its transaction ends. A write transaction commits
# within milliseconds of registering; one whose client stops answering (a paused or wedged worker) is ended by
# PostgreSQL after this long idle, so the horizon stalls at most this long (the sync retries as after any lost
# connection). Local to the transaction: nothing else on the connection, pooled or not, is affected.
WRITER_IDLE_LIMIT_MS = 30_000


def register_sql(count: str) -> str:
    """The writer's statement, `count` being the placeholder of the number of change numbers it takes.

    The stamp and the numbers are read in the outer query, after the subquery that took the locks: PostgreSQL does
    not pull a subquery with volatile functions up into its parent, and the CASE and the correlated ARRAY make
    each depend on the subquery's row."""
    return f"""
    SELECT CASE WHEN registered.clock::text IS NOT NULL THEN clock_timestamp() END AS stamp,
           ARRAY(SELECT nextval('{SEQUENCE}') FROM generate_series(1, {count})
                 WHERE registered.numbers::text IS NOT NULL) AS numbers
    FROM (SELECT pg_advisory_xact_lock_shared(({STAMP_KIND}::bigint << {_VALUE_BITS}) | {_MICROS}) AS clock,
                 pg_advisory_xact_lock_shared(({NUMBER_KIND}::bigint << {_VALUE_BITS})
                                              | (SELECT {_NEXT} FROM {SEQUENCE})) AS numbers,
                 set_config('idle_in_transaction_session_timeout', '{WRITER_IDLE_LIMIT_MS}', true) AS bounded
          ) AS registered
    """  # noqa: S608 (constants only)


REGISTER = text(register_sql(":count"))

_KEY = f"((l.classid::bigint << 32) | l.objid::bigint) & {_VALUE_MASK}"
_KIND = f"(l.classid::bigint >> {_VALUE_BITS - 32})"
HORIZON_SQL = f"""
    SELECT least(h.r0, k.stamp) AS stamp, least(h.next_number, k.number) AS number
    FROM (SELECT {_MICROS} AS r0,
                 (SELECT {_NEXT} FROM {SEQUENCE}) AS next_number
          OFFSET 0) AS h
    CROSS JOIN LATERAL (
        SELECT min(CASE WHEN {_KIND} = {STAMP_KIND} THEN {_KEY} END) AS stamp,
               min(CASE WHEN {_KIND} = {NUMBER_KIND} THEN {_KEY} END) AS number
        FROM pg_locks AS l
        WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND {_KIND} IN ({STAMP_KIND}, {NUMBER_KIND})
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND h.r0 IS NOT NULL
    ) AS k
"""  # noqa: S608 (constants only)
HORIZON = text(HORIZON_SQL)


@dataclass(frozen=True)
class Horizon:
    """Every row stamped before `stamp`, or numbered below `number`, was written by a transaction that had ended
    when the horizon was read: a statement after it sees all of them that committed."""

    stamp: datetime
    number: int


def _horizon(row: Any) -> Horizon:
    return Horizon(stamp=_EPOCH + timedelta(microseconds=int(row[0])), number=int(row[1]))


async def read(session: AsyncSession) -> Horizon:
    """The horizon, in a statement of its own: the rows it bounds must be read by a later one."""
    return _horizon((await session.execute(HORIZON)).one())


async def read_on_driver(connection: Any) -> Horizon:
    """`read` on an asyncpg connection (calsync.store.db.Database.driver_read)."""
    return _horizon(await connection.fetchrow(HORIZON_SQL))


async def register(session: AsyncSession, count: int) -> tuple[datetime, list[int]]:
    """Register this transaction as a writer until it ends; its stamp and `count` change numbers."""
    stamp, numbers = (await session.execute(REGISTER, {"count": count})).one()
    return stamp, [int(number) for number in numbers]


async def numbers_reach(session: AsyncSession, top: int) -> None:
    """Move the sequence to at least `top`, for rows numbered by a bulk load rather than by `register`."""
    await session.execute(
        text(f"SELECT setval('{SEQUENCE}', greatest(:top, (SELECT last_value FROM {SEQUENCE})))"),  # noqa: S608
        {"top": top},
    )
