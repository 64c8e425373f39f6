"""The change clock (calsync.sync.apply.take_change_clock): each transaction takes one change number per row and
one stamp. On SQLite the numbers follow the last one committed and the stamp follows the last stamp even when
the wall clock is behind it; on PostgreSQL both come from the database (a sequence and its clock) and only
increase. The time from taking the clock to the commit is observed once the transaction commits."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from calsync.context import AppContext
from calsync.store.models import Project
from calsync.sync import metrics
from calsync.sync.apply import take_change_clock
from tests.support.service import Tenant

T0 = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)


def held_samples() -> float:
    [family] = metrics.CHANGE_CLOCK_HELD.collect()
    return next(sample.value for sample in family.samples if sample.name.endswith("_count"))


async def test_numbers_and_stamps_only_go_forward(context: AppContext, tenant: Tenant) -> None:
    pid = tenant.project_id
    held_before = held_samples()
    async with context.db.write() as session:
        first = await take_change_clock(session, pid, 3, T0)
    async with context.db.write() as session:
        # The wall clock went back.
        second = await take_change_clock(session, pid, 2, T0 - timedelta(seconds=5))
    async with context.db.write() as session:
        later = await take_change_clock(session, pid, 1, T0 + timedelta(hours=1))
    numbers = [*first.numbers, *second.numbers, *later.numbers]
    assert len(set(numbers)) == 6 and numbers == sorted(numbers)
    assert first.stamp < second.stamp <= later.stamp
    assert held_samples() == held_before + 3
    if context.db.is_sqlite:
        # The project's row is the clock: numbers without a gap, the stamp one microsecond on.
        assert numbers == [1, 2, 3, 4, 5, 6]
        assert (first.stamp, second.stamp, later.stamp) == (T0, T0 + timedelta(microseconds=1), T0 + timedelta(hours=1))
        async with context.db.read() as session:
            stored = (
                await session.execute(select(Project.change_seq, Project.events_clock).where(Project.id == pid))
            ).one()
        assert tuple(stored) == (6, T0 + timedelta(hours=1))


async def test_a_rolled_back_transaction_observes_no_hold(context: AppContext, tenant: Tenant) -> None:
    pid = tenant.project_id
    held_before = held_samples()
    with contextlib.suppress(RuntimeError):
        async with context.db.write() as session:
            abandoned = await take_change_clock(session, pid, 5, T0)
            raise RuntimeError("the page's write failed")
    async with context.db.write() as session:
        taken = await take_change_clock(session, pid, 1, T0)
    assert held_samples() == held_before + 1
    if context.db.is_sqlite:
        assert taken.numbers == [1]  # the rolled-back block was never taken
    else:
        assert taken.numbers[0] > max(abandoned.numbers)  # a sequence never gives a number twice
