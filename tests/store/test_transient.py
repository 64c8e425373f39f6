"""Which database faults are expected events (retried) and which are bugs (propagated). Real faults are
provoked against real databases in tests/sync/test_concurrency_faults.py and the chaos harness; this pins the
classification of the shapes they arrive in."""

from __future__ import annotations

import asyncio
import random

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc

from calsync.store.transient import DatabaseUnavailable, run_with_retries, transient_kind


class _Driver(Exception):
    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def wrapped(driver: BaseException, *, invalidated: bool = False, kind: type[sa_exc.DBAPIError] = sa_exc.DBAPIError):
    return kind("SELECT 1", {}, driver, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (wrapped(_Driver("deadlock detected", "40P01")), "40P01"),
        (wrapped(_Driver("could not serialize access", "40001")), "40001"),
        (wrapped(_Driver("terminating connection due to administrator command", "57P01")), "57P01"),
        (wrapped(_Driver("sorry, too many clients already", "53300")), "53300"),
        (wrapped(_Driver('database "x" is not currently accepting connections', "55000")), "55000"),
        (wrapped(_Driver("connection does not exist", "08003")), "08003"),
        (wrapped(_Driver("anything"), invalidated=True), "disconnect"),
        (
            wrapped(_Driver("cannot perform operation: another operation is in progress"), kind=sa_exc.InterfaceError),
            "disconnect",
        ),
        (wrapped(_Driver("database is locked"), kind=sa_exc.OperationalError), "sqlite_locked"),
        (asyncpg.exceptions.InterfaceError("cannot perform operation: another operation is in progress"), "disconnect"),
        (ConnectionRefusedError(111, "refused"), "connect"),
        (sa_exc.TimeoutError("QueuePool limit reached"), "pool_timeout"),
        (DatabaseUnavailable("40P01"), "40P01"),
    ],
)
def test_expected_faults_are_transient(error: BaseException, expected: str) -> None:
    assert transient_kind(error) == expected


@pytest.mark.parametrize(
    "error",
    [
        wrapped(_Driver('duplicate key value violates unique constraint "x"', "23505"), kind=sa_exc.IntegrityError),
        wrapped(_Driver('column "x" does not exist', "42703"), kind=sa_exc.ProgrammingError),
        asyncpg.exceptions.InterfaceError("the server expects 2 arguments for this query, 1 was passed"),
        ValueError("a bug"),
    ],
)
def test_bugs_are_not_transient(error: BaseException) -> None:
    assert transient_kind(error) is None


def test_retries_are_bounded_then_the_work_is_handed_back() -> None:
    calls = 0

    async def always_deadlocks() -> None:
        nonlocal calls
        calls += 1
        raise wrapped(_Driver("deadlock detected", "40P01"))

    with pytest.raises(DatabaseUnavailable) as raised:
        asyncio.run(run_with_retries(always_deadlocks, what="test", attempts=3, base_delay=0.001, rng=random.Random(1)))
    assert calls == 3 and raised.value.kind == "40P01"


def test_a_bug_is_not_retried() -> None:
    calls = 0

    async def bug() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        asyncio.run(run_with_retries(bug, what="test"))
    assert calls == 1
