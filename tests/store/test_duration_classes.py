"""Span classes bound an event's length and update-lag classes the time from its creation to its last write
(calsync.store.duration_classes); the sync engine writes the lag class with every stamp, and the migrations that
classify stored rows agree with the code that classifies new ones."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from calsync.context import AppContext
from calsync.providers.base import NormalizedEvent
from calsync.store.duration_classes import (
    CLASS_LIMITS,
    UNBOUNDED_CLASS,
    earliest_begin,
    span_class,
    update_lag_class,
)
from calsync.store.migrate import downgrade, upgrade
from calsync.store.models import Calendar, CalendarEvent
from calsync.sync.apply import apply_page
from calsync.sync.rows import content_hash, event_values
from tests.api.test_calendar_events import new_calendar
from tests.support.factories import insert_spans, restamp
from tests.support.service import Tenant

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
lengths = st.timedeltas(min_value=timedelta(days=-2), max_value=timedelta(days=800))


@given(lengths)
def test_the_class_is_the_smallest_that_holds_the_length(length: timedelta) -> None:
    span = span_class(T0, T0 + length)
    if span < UNBOUNDED_CLASS:
        assert length <= CLASS_LIMITS[span]
    if span > 0:
        assert length > CLASS_LIMITS[span - 1]


@given(lengths, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=800)))
def test_an_event_running_at_a_point_started_after_its_earliest_begin(length: timedelta, into: timedelta) -> None:
    start = T0 - into  # the point T0 lies `into` after the start
    earliest = earliest_begin(span_class(start, start + length), T0)
    if start + length >= T0:  # running at T0
        assert earliest is None or start >= earliest


def test_limits_at_the_edges() -> None:
    for index, limit in enumerate(CLASS_LIMITS):
        assert span_class(T0, T0 + limit) == index
        assert span_class(T0, T0 + limit + timedelta(microseconds=1)) == index + 1
    assert span_class(T0, T0 - timedelta(hours=1)) == 0


def test_stored_events_never_end_before_they_start_and_the_class_is_not_digested() -> None:
    backwards = NormalizedEvent("e1", False, start_time=T0, end_time=T0 - timedelta(hours=1))
    values = event_values(backwards)
    assert values["end_time"] == T0 and values["span_class"] == 0
    assert content_hash(values) == content_hash({**values, "span_class": UNBOUNDED_CLASS})


async def test_the_migration_classifies_stored_rows_like_the_code(
    tenant: Tenant, context: AppContext, database_url: str
) -> None:
    calendar = await new_calendar(tenant, "a")
    odd, tick = timedelta(seconds=1, microseconds=1), timedelta(microseconds=1)
    spans = [(T0, T0), (T0, T0 - odd)]
    for limit in CLASS_LIMITS:
        spans += [(T0, T0 + limit), (T0 - odd, T0 + limit), (T0 + odd, T0 + limit), (T0, T0 + limit - odd)]
        # A stored fraction of .9995 s or more, which SQLite's strftime rounds up to the next second.
        spans += [(T0 - tick, T0 + limit), (T0, T0 + limit - tick), (T0 - tick, T0 + limit - tick)]
    spans.append((T0, T0 + timedelta(days=900)))
    await insert_spans(context, calendar, spans, classify=False)
    await context.db.dispose()
    await asyncio.to_thread(downgrade, database_url, "0002")
    await asyncio.to_thread(upgrade, database_url)
    async with context.db.read() as session:
        rows = (
            await session.execute(select(CalendarEvent.start_time, CalendarEvent.end_time, CalendarEvent.span_class))
        ).all()
    assert len(rows) == len(spans)
    assert [row.span_class for row in rows] == [span_class(row.start_time, row.end_time) for row in rows]


@given(lengths)
def test_an_event_updated_since_a_point_was_created_after_its_earliest_begin(lag: timedelta) -> None:
    created = T0 - timedelta(days=3)
    updated = max(created, created + lag)
    earliest = earliest_begin(update_lag_class(created, updated), updated)
    assert earliest is None or created >= earliest


def live(uuid: str, hour: int) -> NormalizedEvent:
    start = T0 + timedelta(hours=hour)
    return NormalizedEvent(uuid, False, start_time=start, end_time=start + timedelta(minutes=30), name=str(hour))


async def test_the_sync_engine_writes_the_update_lag_class_with_every_stamp(
    tenant: Tenant, context: AppContext
) -> None:
    calendar_object_id = await new_calendar(tenant, "a")
    writes = [
        (T0, [live(f"e{n}", n) for n in range(6)], []),
        (T0 + timedelta(minutes=20), [live("e0", 100)], []),  # changed: lag 20 minutes
        (T0 + timedelta(days=5), [live("e1", 101), live("e2", 2)], ["e3"]),  # changed, unchanged, deleted
        (T0 + timedelta(days=400), [live("e4", 104)], ["e5"]),  # beyond every limit
    ]
    for now, events, removed in writes:
        async with context.db.write() as session:
            calendar = (
                await session.execute(select(Calendar).where(Calendar.object_id == calendar_object_id))
            ).scalar_one()
            await apply_page(session, calendar, events, removed, now)
    async with context.db.read() as session:
        rows = (
            await session.execute(
                select(
                    CalendarEvent.platform_uuid,
                    CalendarEvent.created_at,
                    CalendarEvent.updated_at,
                    CalendarEvent.update_lag_class,
                ).order_by(CalendarEvent.platform_uuid)
            )
        ).all()
    # SQLite stamps from the caller's clock, so the lags are the ones written above; PostgreSQL stamps from its own
    # (the clock its readers' horizon is read from), so there only the class of each stored stamp is checked.
    if context.db.is_sqlite:
        assert {row.platform_uuid: row.update_lag_class for row in rows} == {
            "e0": 0,
            "e1": 7,
            "e2": 0,
            "e3": 7,
            "e4": UNBOUNDED_CLASS,
            "e5": UNBOUNDED_CLASS,
        }
    assert all(row.update_lag_class == update_lag_class(row.created_at, row.updated_at) for row in rows)


async def test_the_migration_classifies_update_lags_like_the_code(
    tenant: Tenant, context: AppContext, database_url: str
) -> None:
    calendar = await new_calendar(tenant, "a")
    odd = timedelta(seconds=1, microseconds=1)
    lags = [timedelta(0), odd, timedelta(days=900)]
    for limit in CLASS_LIMITS:
        lags += [limit, limit + odd, limit - odd, limit + timedelta(microseconds=1)]
    for lag in lags:
        ids = await insert_spans(context, calendar, [(T0, T0)], stamp=T0 - odd, classify=False)
        await restamp(context, ids, T0 - odd + lag, classify=False)
    await context.db.dispose()
    await asyncio.to_thread(downgrade, database_url, "0003")
    await asyncio.to_thread(upgrade, database_url)
    async with context.db.read() as session:
        rows = (
            await session.execute(
                select(CalendarEvent.created_at, CalendarEvent.updated_at, CalendarEvent.update_lag_class)
            )
        ).all()
    assert len(rows) == len(lags)
    assert [row.update_lag_class for row in rows] == [update_lag_class(row.created_at, row.updated_at) for row in rows]
    assert {row.update_lag_class for row in rows} == set(range(UNBOUNDED_CLASS + 1))
