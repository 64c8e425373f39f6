"""Bot rows are locked in one order (ascending id) by every transaction, so a meeting evaluation and a sync page
never deadlock on them (docs/architecture.md, "Lock order"). PostgreSQL: SQLite has one writer at a time.

The interleaving built here deadlocked when an evaluation locked its bots meeting by meeting: with its meetings in
two chunks, it took the bot of the first meeting (the higher bot id), then waited for the lower one, which a sync
page held while it went on to lock the higher one."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.context import AppContext
from calsync.meetings import load, queue
from calsync.meetings.loop import evaluate_all
from calsync.store.models import Bot
from calsync.sync.meeting_keys import event_meeting_id
from calsync_emulator.client import EmulatorControl
from tests.bots.support import tomorrow
from tests.meetings.support import MEET, calendar, create_rule, invite
from tests.support.databases import waiting_for_a_lock
from tests.support.service import Tenant
from tests.sync.conftest import eventually
from tests.sync.test_concurrency_faults import deadlocks, postgres_only


def _meeting_of(project_id: int, start: datetime) -> str:
    return event_meeting_id(project_id, {"start_time": start, "meeting_url": MEET})


def _starts_in_reverse_meeting_order(project_id: int) -> tuple[datetime, datetime]:
    """Two start times whose meeting ids sort the other way round from the order their bots are created in."""
    first = tomorrow()
    for hours in range(1, 200):
        second = first + timedelta(hours=hours)
        if _meeting_of(project_id, second) < _meeting_of(project_id, first):
            return first, second
    raise AssertionError("no such pair of start times")  # (each pair has even odds: never reached)


async def _lock_bot(session: AsyncSession, bot_id: int) -> None:
    await session.execute(select(Bot).where(Bot.id == bot_id).with_for_update(key_share=True))


async def test_an_evaluation_and_a_sync_page_lock_bots_in_one_order(
    control: EmulatorControl, context: AppContext, tenant: Tenant, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    postgres_only(database_url)
    await create_rule(tenant)
    cal = await calendar(control, tenant, "ada@acme.test")
    first_start, second_start = _starts_in_reverse_meeting_order(tenant.project_id)
    for index, start in enumerate((first_start, second_start)):
        await invite(control, cal, start, uid=f"meeting-{index}@acme.test")
        await cal.sync(context)  # (one bot each, in this order: ascending ids)
    async with context.db.read() as session:
        rows = (await session.execute(select(Bot.id, Bot.meeting_object_id).order_by(Bot.id))).all()
    [(low, low_meeting), (high, high_meeting)] = rows
    assert (low_meeting, high_meeting) == (
        _meeting_of(tenant.project_id, first_start),
        _meeting_of(tenant.project_id, second_start),
    )
    assert high_meeting < low_meeting  # an evaluation meets the higher bot id first

    monkeypatch.setattr(load, "IN_CHUNK", 1)  # one meeting per statement, as in a batch of over 500
    async with context.db.write() as session:
        await queue.enqueue(session, tenant.project_id, [low_meeting, high_meeting], context.clock())
    before = await deadlocks(database_url)
    async with context.db.write() as page:  # a sync page making both bots follow their events: ascending ids
        await _lock_bot(page, low)
        evaluation = asyncio.create_task(evaluate_all(context))
        await eventually(lambda: waiting_for_a_lock(database_url))  # the evaluation waits for the lower bot…
        await _lock_bot(page, high)  # …and holds no higher one the page now needs
    assert await asyncio.wait_for(evaluation, 30) == 2
    assert await deadlocks(database_url) == before
