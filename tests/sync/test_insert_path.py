"""New events are written by COPY on PostgreSQL and by an executemany INSERT elsewhere (calsync.sync.apply._insert):
either way a row reads back exactly as SQLAlchemy's INSERT of the same values stores it, JSON nulls included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from calsync.context import AppContext
from calsync.providers.base import Attendee, NormalizedEvent
from calsync.store.models import Calendar, CalendarEvent
from calsync.sync.apply import EVENTS_TABLE, apply_page
from tests.api.test_calendar_events import new_calendar
from tests.support.service import Tenant

T0 = datetime(2026, 5, 4, 9, 30, 15, 123456, tzinfo=UTC)
COMPARED = [c for c in EVENTS_TABLE.columns if c.name not in ("id", "object_id", "platform_uuid")]


def events() -> list[NormalizedEvent]:
    full = NormalizedEvent(
        "full",
        False,
        start_time=T0,
        end_time=T0 + timedelta(hours=1),
        name="Planning ✓ «quotes» \"and\" 'apostrophes'",
        is_all_day=False,
        time_zone="Europe/Berlin",
        status="confirmed",
        location="Room 1",
        meeting_url="https://meet.google.com/abc-defg-hij",
        meeting_platform="google_meet",
        organizer={"email": "o@example.com", "name": None, "self": True},
        attendees=[Attendee(email="a@example.com", name="A", response_status="accepted", is_organizer=False)],
        ical_uid="uid@example.com",
        raw={"id": "full", "nested": {"list": [1, 2.5, None, "x"]}, "unicode": "日本"},
    )
    bare = NormalizedEvent("bare", False, start_time=T0, end_time=T0, is_all_day=True)
    return [full, bare]


async def stored(context: AppContext, uuid: str) -> dict[str, Any]:
    async with context.db.read() as session:
        row = (await session.execute(select(*COMPARED).where(CalendarEvent.platform_uuid == uuid))).one()
        organizer_is_sql_null = (
            await session.execute(select(CalendarEvent.organizer.is_(None)).where(CalendarEvent.platform_uuid == uuid))
        ).scalar_one()
    return {**row._asdict(), "organizer IS NULL": organizer_is_sql_null}


async def test_a_new_event_reads_back_as_an_sqlalchemy_insert_stores_it(tenant: Tenant, context: AppContext) -> None:
    calendar_object_id = await new_calendar(tenant, "a")
    async with context.db.write() as session:
        calendar = (
            await session.execute(select(Calendar).where(Calendar.object_id == calendar_object_id))
        ).scalar_one()
        await apply_page(session, calendar, events(), [], T0)
    for uuid in ("full", "bare"):
        written = await stored(context, uuid)
        async with context.db.write() as session:
            values = {column.name: written[column.name] for column in COMPARED}
            await session.execute(
                insert(EVENTS_TABLE), [{**values, "object_id": f"evt_copy_{uuid}", "platform_uuid": f"{uuid}-again"}]
            )
        assert await stored(context, f"{uuid}-again") == written
    full = await stored(context, "full")
    assert full["raw"] == events()[0].raw and full["organizer"] == events()[0].organizer
    assert full["created_at"] == full["updated_at"] and full["update_lag_class"] == 0
    # SQLite stamps from the caller's clock; PostgreSQL from its own, the one its readers' horizon is read from.
    assert full["created_at"] == T0 or not context.db.is_sqlite
    bare = await stored(context, "bare")
    assert bare["organizer"] is None and bare["attendees"] == [] and bare["organizer IS NULL"] is False
