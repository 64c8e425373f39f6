"""The project's change clock (calsync.sync.apply.lock_change_clock): each transaction takes a block of change
numbers that follows the last one committed, and a stamp after the last stamp even when the wall clock is behind
it; the time the clock was held is observed once the transaction commits."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from calsync.context import AppContext
from calsync.store.models import Project
from calsync.sync import metrics
from calsync.sync.apply import lock_change_clock
from tests.support.service import Tenant

T0 = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)


def held_samples() -> float:
    [family] = metrics.CHANGE_CLOCK_HELD.collect()
    return next(sample.value for sample in family.samples if sample.name.endswith("_count"))


async def test_numbers_follow_on_and_stamps_never_go_back(context: AppContext, tenant: Tenant) -> None:
    pid = tenant.project_id
    held_before = held_samples()
    async with context.db.write() as session:
        first = await lock_change_clock(session, pid, 3, T0)
    async with context.db.write() as session:
        # The wall clock went back: the stamp still moves forward, by one microsecond.
        second = await lock_change_clock(session, pid, 2, T0 - timedelta(seconds=5))
    async with context.db.write() as session:
        later = await lock_change_clock(session, pid, 1, T0 + timedelta(hours=1))
    assert (first.first_seq, second.first_seq, later.first_seq) == (1, 4, 6)
    assert (first.stamp, second.stamp, later.stamp) == (T0, T0 + timedelta(microseconds=1), T0 + timedelta(hours=1))
    async with context.db.read() as session:
        stored = (
            await session.execute(select(Project.change_seq, Project.events_clock).where(Project.id == pid))
        ).one()
    assert tuple(stored) == (6, T0 + timedelta(hours=1))
    assert held_samples() == held_before + 3


async def test_a_rolled_back_transaction_takes_no_number_and_observes_no_hold(
    context: AppContext, tenant: Tenant
) -> None:
    pid = tenant.project_id
    held_before = held_samples()
    with contextlib.suppress(RuntimeError):
        async with context.db.write() as session:
            await lock_change_clock(session, pid, 5, T0)
            raise RuntimeError("the page's write failed")
    async with context.db.write() as session:
        taken = await lock_change_clock(session, pid, 1, T0)
    assert taken.first_seq == 1
    assert held_samples() == held_before + 1
