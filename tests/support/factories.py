"""Rows for API tests that need events before the sync engine is involved."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from calsync.context import AppContext
from calsync.ids import new_id
from calsync.store.duration_classes import span_class, update_lag_class
from calsync.store.models import Calendar, CalendarEvent
from calsync.sync.apply import take_change_clock


async def insert_events(
    context: AppContext,
    calendar_object_id: str,
    count: int,
    *,
    start: datetime,
    step: timedelta = timedelta(hours=1),
    stamp: datetime | None = None,
    deleted_every: int = 0,
) -> list[str]:
    """Insert `count` 30-minute events one `step` apart, all stamped `stamp` (default now), as one write."""
    spans = [(start + step * index, start + step * index + timedelta(minutes=30)) for index in range(count)]
    return await insert_spans(context, calendar_object_id, spans, stamp=stamp, deleted_every=deleted_every)


async def insert_spans(
    context: AppContext,
    calendar_object_id: str,
    spans: list[tuple[datetime, datetime]],
    *,
    stamp: datetime | None = None,
    deleted_every: int = 0,
    classify: bool = True,
) -> list[str]:
    """Insert one event per (start, end), all stamped `stamp` (default now), as one write. Without `classify`
    the span and update-lag classes are left to the columns' default, as a writer other than the sync engine
    would."""
    async with context.db.write() as session:
        calendar = (
            await session.execute(select(Calendar).where(Calendar.object_id == calendar_object_id))
        ).scalar_one()
        now = stamp or context.clock()
        # Numbered by the change clock, as a sync's rows are (the meetings scan reads them by number).
        numbers = (await take_change_clock(session, calendar.project_id, len(spans), now)).numbers
        ids = []
        for index, (start, end) in enumerate(spans):
            object_id = new_id("evt_")
            ids.append(object_id)
            event = CalendarEvent(
                object_id=object_id,
                project_id=calendar.project_id,
                calendar_id=calendar.id,
                platform_uuid=f"p{object_id}",
                name=f"Event {index}",
                start_time=start,
                end_time=end,
                is_all_day=False,
                is_deleted=bool(deleted_every) and index % deleted_every == 0,
                raw={"id": object_id},
                content_hash=hashlib.sha256(object_id.encode()).hexdigest(),
                created_at=now,
                updated_at=now,
                change_seq=numbers[index],
            )
            if classify:
                event.span_class = span_class(start, end)
                event.update_lag_class = update_lag_class(now, now)
            session.add(event)
    return ids


async def restamp(
    context: AppContext, object_ids: list[str], updated_at: datetime, *, classify: bool = True, **values: Any
) -> None:
    """Write the events again at `updated_at` (with `values`), with their update-lag class as the sync engine
    writes it; without `classify` the class is left as it was (for rows inserted unclassified: the column's
    default, always true)."""
    async with context.db.write() as session:
        events = (await session.execute(select(CalendarEvent).where(CalendarEvent.object_id.in_(object_ids)))).scalars()
        for event in events:
            event.updated_at = updated_at
            if classify:
                event.update_lag_class = update_lag_class(event.created_at, updated_at)
            for name, value in values.items():
                setattr(event, name, value)
