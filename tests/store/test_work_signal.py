"""The work signal wakes the loops the work is for: in this process, and across processes by NOTIFY's payload."""

from __future__ import annotations

import asyncio

import pytest

from calsync.context import AppContext
from calsync.store.work_signal import (
    BOT_DISPATCH_LOOP,
    SYNC_LOOP,
    WEBHOOK_DELIVERY_LOOP,
    WorkSignal,
    notify_work_in_transaction,
)
from calsync.worker.listener import PostgresListener

# How long a waiter that must NOT be woken is given: its wait times out (a bound, not a sleep on the happy path).
QUIET = 0.05


async def test_a_named_kick_wakes_only_that_loop() -> None:
    signal = WorkSignal()
    for name in (SYNC_LOOP, WEBHOOK_DELIVERY_LOOP):
        assert not await signal.wait(0, name)  # registered, nothing pending
    delivery = asyncio.create_task(signal.wait(5, WEBHOOK_DELIVERY_LOOP))
    await asyncio.sleep(0)
    signal.kick(WEBHOOK_DELIVERY_LOOP)
    assert await delivery
    assert not await signal.wait(QUIET, SYNC_LOOP)


async def test_an_unnamed_kick_wakes_every_loop_and_is_remembered_for_a_new_one() -> None:
    signal = WorkSignal()
    assert not await signal.wait(0, SYNC_LOOP)
    signal.kick()
    assert await signal.wait(QUIET, SYNC_LOOP)
    assert await signal.wait(QUIET, BOT_DISPATCH_LOOP)  # first wait: the kick may have been for work it missed


async def test_a_named_kick_before_the_loop_waits_is_kept() -> None:
    signal = WorkSignal()
    signal.kick(BOT_DISPATCH_LOOP)
    assert await signal.wait(QUIET, BOT_DISPATCH_LOOP)
    assert not await signal.wait(QUIET, SYNC_LOOP)


async def test_a_loop_about_to_look_for_work_forgets_the_kicks_its_look_serves() -> None:
    signal = WorkSignal()
    signal.kick(WEBHOOK_DELIVERY_LOOP)
    signal.kick(SYNC_LOOP)
    signal.forget(WEBHOOK_DELIVERY_LOOP)
    assert not await signal.wait(QUIET, WEBHOOK_DELIVERY_LOOP)
    assert await signal.wait(QUIET, SYNC_LOOP)  # another loop's kick is kept
    signal.forget("never_waited")  # (a loop that never waited has nothing to forget)


async def test_notify_payload_wakes_the_named_loop_in_another_process(context: AppContext) -> None:
    if context.db.is_sqlite:
        pytest.skip("NOTIFY is PostgreSQL's; one SQLite process shares its WorkSignal")
    signal = WorkSignal()
    listener = PostgresListener(context.settings.resolved_database_url, signal)
    await listener.run_once()
    try:
        for name in (SYNC_LOOP, WEBHOOK_DELIVERY_LOOP):
            assert await signal.wait(QUIET, name)  # the listener kicks all once connected (notifications were missed)
        delivery = asyncio.create_task(signal.wait(5, WEBHOOK_DELIVERY_LOOP))
        await asyncio.sleep(0)
        async with context.db.write() as session:
            await notify_work_in_transaction(session, WEBHOOK_DELIVERY_LOOP)
        assert await delivery
        assert not await signal.wait(QUIET, SYNC_LOOP)

        every = asyncio.create_task(signal.wait(5, SYNC_LOOP))
        await asyncio.sleep(0)
        async with context.db.write() as session:
            await notify_work_in_transaction(session)
        assert await every
    finally:
        await listener.drain()
