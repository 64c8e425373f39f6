"""The meetings of event changes, read past a cursor per project (calsync.meetings.scan), on both databases."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select, update

from calsync.context import AppContext
from calsync.meetings import scan
from calsync.meetings.evaluate import scan_batch
from calsync.store.models import CalendarEvent, Meeting, MeetingScanCursor
from tests.api.seed import SEED_REQUEST
from tests.support.factories import insert_events
from tests.support.service import Tenant
from tests.sync.test_concurrency_faults import postgres_only


async def _events_in_meetings(context: AppContext, tenant: Tenant, count: int, key: str = "scan") -> list[str]:
    response = await tenant.client.post("/api/v1/calendars", json={**SEED_REQUEST, "deduplication_key": key})
    assert response.status_code == 201, response.text
    ids = await insert_events(context, response.json()["id"], count, start=context.clock() + timedelta(days=1))
    async with context.db.write() as session:
        for index, object_id in enumerate(ids):
            statement = update(CalendarEvent).where(CalendarEvent.object_id == object_id)
            await session.execute(statement.values(meeting_object_id=f"mtg_{index:016d}"))
    return ids


async def _scan(context: AppContext, limit: int) -> int:
    async with context.db.write() as session:
        result = await scan_batch(
            session, context.clock(), stand_down=timedelta(minutes=5), default_lead=120, limit=limit
        )
    return result.meetings


async def _cursor(context: AppContext, project_id: int) -> int | None:
    async with context.db.read() as session:
        row = await session.get(MeetingScanCursor, project_id)
        return row.change_seq if row is not None else None


async def test_events_behind_sums_every_project_each_up_to_the_cap(
    context: AppContext, tenant: Tenant, other_tenant: Tenant
) -> None:
    await _events_in_meetings(context, tenant, 3)
    await _events_in_meetings(context, other_tenant, 4)
    async with context.db.read() as session:
        assert await scan.events_behind(session) == 7
        assert await scan.events_behind(session, cap=2) == 4  # (2 of each project's)
    while await _scan(context, 500):
        pass
    async with context.db.read() as session:
        assert await scan.events_behind(session) == 0


async def test_event_changes_are_read_in_order_once(context: AppContext, tenant: Tenant) -> None:
    await _events_in_meetings(context, tenant, 5)
    assert await _cursor(context, tenant.project_id) is None  # a new project: read from the start
    async with context.db.read() as session:
        assert await scan.events_behind(session) == 5
        assert await scan.events_behind(session, cap=2) == 2
    assert [await _scan(context, 2) for _ in range(4)] == [2, 2, 1, 0]
    assert await _cursor(context, tenant.project_id) == 5
    async with context.db.read() as session:
        assert (await session.execute(select(func.count()).select_from(Meeting))).scalar_one() == 5
        assert await scan.events_behind(session) == 0


async def test_numbers_without_a_stored_event_are_passed(context: AppContext, tenant: Tenant) -> None:
    ids = await _events_in_meetings(context, tenant, 3)
    async with context.db.write() as session:  # (a calendar deleted since: its rows are gone)
        await session.execute(delete(CalendarEvent).where(CalendarEvent.object_id.in_(ids)))
    assert await _scan(context, 10) == 0  # nothing stored past the cursor: the project is not even claimed
    later = await _events_in_meetings(context, tenant, 2, "scan-later")
    assert await _scan(context, 10) == 2  # the numbers of the deleted rows are passed on the way
    async with context.db.read() as session:
        newest = (
            await session.execute(select(func.max(CalendarEvent.change_seq)).where(CalendarEvent.object_id.in_(later)))
        ).scalar_one()
    assert await _cursor(context, tenant.project_id) == newest
    assert await _scan(context, 10) == 0


async def test_a_project_another_evaluator_reads_is_skipped(
    context: AppContext, tenant: Tenant, database_url: str
) -> None:
    postgres_only(database_url)
    await _events_in_meetings(context, tenant, 2)
    assert await _scan(context, 1) == 1
    read_to = await _cursor(context, tenant.project_id)
    async with context.db.write() as holder:
        cursor = await scan.claim(holder, await scan.horizon(holder))
        assert cursor is not None and cursor.project_id == tenant.project_id
        async with context.db.write() as other:
            assert await scan.claim(other, await scan.horizon(other)) is None  # held: skipped, not waited for
    assert await _cursor(context, tenant.project_id) == read_to  # the holder read nothing
    assert await _scan(context, 1) == 1
