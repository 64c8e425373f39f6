"""A project without active rules stores new meetings whole, without reading or locking bots (calsync.meetings.
evaluate): the API shows exactly what the full evaluation shows, and a row a racing evaluator inserted first is
left to the full evaluation, under its lock (both databases)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.context import AppContext
from calsync.meetings import load, meeting_rows, queue
from calsync.meetings.loop import evaluate_all
from calsync_emulator.client import EmulatorControl
from tests.bots.support import tomorrow
from tests.meetings.support import OTHER_MEET, all_meetings, calendar, invite
from tests.support.service import Tenant


async def test_the_full_evaluation_changes_nothing_the_short_way_stored(
    control: EmulatorControl, context: AppContext, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    full: list[str] = []  # the meetings that reach the full evaluation
    with_meetings_left = load.with_meetings_left

    async def recorded(session: AsyncSession, project_id: int, ids: list[str]) -> list[str]:
        full.extend(ids)
        return await with_meetings_left(session, project_id, ids)

    monkeypatch.setattr(load, "with_meetings_left", recorded)
    start = tomorrow()
    ada = await calendar(control, tenant, "ada@acme.test")
    bob = await calendar(control, tenant, "bob@acme.test", platform="microsoft")
    for cal in (ada, bob):
        await invite(control, cal, start)
    await invite(
        control, ada, start + timedelta(hours=1), uid="other@x", meeting_url=OTHER_MEET, organizer="ada@acme.test"
    )
    await invite(control, bob, start + timedelta(hours=2), uid="nolink@x", meeting_url=None)
    for cal in (ada, bob):
        await cal.sync(context)
    short = await all_meetings(tenant)
    assert len(short) == 3 and full == []
    # The full evaluation of the same meetings (they have rows now: the short way is for new ones only).
    async with context.db.write() as session:
        await queue.enqueue(session, tenant.project_id, [m["id"] for m in short], context.clock())
    await evaluate_all(context)
    assert await all_meetings(tenant) == short  # (updated_at too: nothing was written)
    assert sorted(full) == sorted(m["id"] for m in short)


async def test_a_row_inserted_first_by_another_evaluator_is_left_to_it(context: AppContext, tenant: Tenant) -> None:
    now = context.clock()
    async with context.db.write() as session:
        first = await meeting_rows.insert_meetings(
            session, tenant.project_id, {"mtg_racing": meeting_rows.placeholder()}, now
        )
    async with context.db.write() as session:
        rows = {"mtg_racing": meeting_rows.placeholder(), "mtg_mine": meeting_rows.placeholder()}
        second = await meeting_rows.insert_meetings(session, tenant.project_id, rows, now)
    assert (first, second) == ({"mtg_racing"}, {"mtg_mine"})
