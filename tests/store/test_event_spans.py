"""Span classes bound an event's length (calsync.store.event_spans), and the migration that classifies stored
rows agrees with the code that classifies new ones."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from calsync.context import AppContext
from calsync.providers.base import NormalizedEvent
from calsync.store.event_spans import SPAN_CLASS_LIMITS, UNBOUNDED_SPAN, earliest_start, span_class
from calsync.store.migrate import downgrade, upgrade
from calsync.store.models import CalendarEvent
from calsync.sync.rows import content_hash, event_values
from tests.api.test_calendar_events import new_calendar
from tests.support.factories import insert_spans
from tests.support.service import Tenant

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
lengths = st.timedeltas(min_value=timedelta(days=-2), max_value=timedelta(days=800))


@given(lengths)
def test_the_class_is_the_smallest_that_holds_the_length(length: timedelta) -> None:
    span = span_class(T0, T0 + length)
    if span < UNBOUNDED_SPAN:
        assert length <= SPAN_CLASS_LIMITS[span]
    if span > 0:
        assert length > SPAN_CLASS_LIMITS[span - 1]


@given(lengths, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=800)))
def test_an_event_running_at_a_point_started_after_its_earliest_start(length: timedelta, into: timedelta) -> None:
    start = T0 - into  # the point T0 lies `into` after the start
    earliest = earliest_start(span_class(start, start + length), T0)
    if start + length >= T0:  # running at T0
        assert earliest is None or start >= earliest


def test_limits_at_the_edges() -> None:
    for index, limit in enumerate(SPAN_CLASS_LIMITS):
        assert span_class(T0, T0 + limit) == index
        assert span_class(T0, T0 + limit + timedelta(microseconds=1)) == index + 1
    assert span_class(T0, T0 - timedelta(hours=1)) == 0


def test_stored_events_never_end_before_they_start_and_the_class_is_not_digested() -> None:
    backwards = NormalizedEvent("e1", False, start_time=T0, end_time=T0 - timedelta(hours=1))
    values = event_values(backwards)
    assert values["end_time"] == T0 and values["span_class"] == 0
    assert content_hash(values) == content_hash({**values, "span_class": UNBOUNDED_SPAN})


async def test_the_migration_classifies_stored_rows_like_the_code(
    tenant: Tenant, context: AppContext, database_url: str
) -> None:
    calendar = await new_calendar(tenant, "a")
    odd = timedelta(seconds=1, microseconds=1)
    spans = [(T0, T0), (T0, T0 - odd)]
    for limit in SPAN_CLASS_LIMITS:
        spans += [(T0, T0 + limit), (T0 - odd, T0 + limit), (T0 + odd, T0 + limit), (T0, T0 + limit - odd)]
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
