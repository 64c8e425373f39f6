"""Writing one page of platform changes: bulk upserts in one short transaction, no query per event.

`updated_at` and `change_seq` come from the change clock (`take_change_clock`): on PostgreSQL from the database's
clock and a sequence, read below the horizon of the writers still running (calsync.store.change_horizon); on
SQLite from the project's row. A client polling `updated_at_gte=<newest it saw>` therefore cannot miss a row
committed later with an older stamp — Attendee's race."""

from __future__ import annotations

import operator
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, String, Table, any_, bindparam, insert, select, update
from sqlalchemy import event as orm_event
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session

from calsync import json_codec
from calsync.ids import new_ids
from calsync.providers.base import NormalizedEvent
from calsync.store import change_horizon
from calsync.store.duration_classes import update_lag_class
from calsync.store.models import Calendar, CalendarEvent, Project
from calsync.sync import metrics
from calsync.sync.changes import AppliedChanges
from calsync.sync.meeting_keys import event_meeting_id
from calsync.sync.rows import TRACKED_FIELDS, changed_fields, content_hash, event_values

EVENTS_TABLE: Table = CalendarEvent.__table__  # type: ignore[assignment]
PROJECTS_TABLE: Table = Project.__table__  # type: ignore[assignment]
_JSON_COLUMNS = frozenset(column.name for column in EVENTS_TABLE.columns if isinstance(column.type, JSON))

# SQLite allows 32766 bound parameters; keep IN lists well below any limit.
IN_CHUNK = 500

_EXISTING_COLUMNS = (
    CalendarEvent.id,
    CalendarEvent.object_id,
    CalendarEvent.platform_uuid,
    CalendarEvent.content_hash,
    CalendarEvent.created_at,
    CalendarEvent.meeting_object_id,
    *(getattr(CalendarEvent, name) for name in TRACKED_FIELDS),
)


@dataclass(frozen=True)
class ChangeClock:
    """The stamp and the change numbers one transaction took, one number per row it writes."""

    stamp: datetime
    numbers: list[int]


_CLOCK_TAKEN = "calsync.change_clock_taken"


@orm_event.listens_for(Session, "after_commit")
def _clock_released(session: Session) -> None:
    taken = session.info.pop(_CLOCK_TAKEN, None)
    if taken is not None:
        metrics.CHANGE_CLOCK_HELD.observe(time.perf_counter() - taken)


@orm_event.listens_for(Session, "after_rollback")
def _clock_abandoned(session: Session) -> None:
    session.info.pop(_CLOCK_TAKEN, None)


async def take_change_clock(session: AsyncSession, project_id: int, count: int, now: datetime) -> ChangeClock:
    """A stamp and `count` change numbers for the rows this transaction writes, taken last (docs/architecture.md,
    "Lock order"); readers that page by them see them only once the transaction has ended.

    PostgreSQL: no row is locked. The transaction registers as a writer until it ends (two shared advisory locks
    whose keys bound what it takes) and then reads the database's clock and the change-number sequence, in one
    statement (calsync.store.change_horizon). Readers by stamp or number stop below the horizon of the writers
    still running, so concurrent writers of one project commit in parallel and their order of commit does not
    matter. `now` is not used there: the stamps must come from the clock the readers' horizon is read from.

    SQLite: the write transaction already excludes every other writer (BEGIN IMMEDIATE), so the project's row
    holds the clock: the stamp is `max(now, last stamp + 1 µs)` and the numbers follow the last one, in commit
    order by construction."""
    # What the transaction holds pending (the fence's lease, the features' rows) is written before the clock is
    # taken: a Core statement does not flush the session by itself.
    await session.flush()
    started = time.perf_counter()
    if session.get_bind().dialect.name == "postgresql":
        taken, numbers = await change_horizon.register(session, count)
    else:
        projects = PROJECTS_TABLE
        # SQLite has no GREATEST over NULL-able timestamps: two statements, which hold nothing up here.
        statement = (
            update(projects)
            .where(projects.c.id == project_id)
            .values(change_seq=projects.c.change_seq + count)
            .returning(projects.c.change_seq, projects.c.events_clock)
        )
        seq, last = (await session.execute(statement)).one()
        taken = now if last is None or now > last else last + timedelta(microseconds=1)
        await session.execute(update(projects).where(projects.c.id == project_id).values(events_clock=taken))
        numbers = list(range(int(seq) - count + 1, int(seq) + 1))
    taken_at = time.perf_counter()
    metrics.CHANGE_CLOCK_WAIT.observe(taken_at - started)
    session.info[_CLOCK_TAKEN] = taken_at
    return ChangeClock(stamp=taken, numbers=numbers)


# PostgreSQL: a page's ids as one array parameter. One statement text whatever the page's size, so the driver
# prepares it once per connection; an IN list of up to 500 parameters was a new statement for each size, and
# SQLAlchemy expanded and processed every parameter on every page (bench/initial_sync_pipe.py).
_EXISTING_BY_ARRAY = select(*_EXISTING_COLUMNS).where(
    CalendarEvent.calendar_id == bindparam("calendar_id"),
    CalendarEvent.platform_uuid == any_(bindparam("uuids", type_=postgresql.ARRAY(String()))),
)


async def _existing(session: AsyncSession, calendar_id: int, uuids: Sequence[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    if session.get_bind().dialect.name == "postgresql":
        # On the session's connection: a Core read skips the ORM's execution (its autoflush too: the rows read
        # here are not among what the session holds pending).
        connection = await session.connection()
        stored = await connection.execute(_EXISTING_BY_ARRAY, {"calendar_id": calendar_id, "uuids": list(uuids)})
        return {row["platform_uuid"]: dict(row) for row in stored.mappings()}
    for start in range(0, len(uuids), IN_CHUNK):
        chunk = uuids[start : start + IN_CHUNK]
        rows = await session.execute(
            select(*_EXISTING_COLUMNS).where(
                CalendarEvent.calendar_id == calendar_id, CalendarEvent.platform_uuid.in_(chunk)
            )
        )
        for row in rows.mappings():
            found[row["platform_uuid"]] = dict(row)
    return found


def _last_version_of_each(events: Iterable[NormalizedEvent]) -> dict[str, NormalizedEvent]:
    # Platforms may replay an item within one page; the last occurrence is the current one.
    latest: dict[str, NormalizedEvent] = {}
    for event in events:
        latest[event.platform_uuid] = event
    return latest


@dataclass
class PagePlan:
    """The writes one page needs, worked out before the change clock is taken: a PostgreSQL reader by stamp waits
    for a registered writer to end (calsync.store.change_horizon) and on SQLite the clock is the write lock, so it
    is taken only for the statements and the commit (bench/initial_sync.py --projects shows what holding the
    project's row lock longer cost)."""

    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    # The stored row of each update, by id: its created_at and the new stamp give the row's update-lag class, and
    # its tracked fields what the update changes (the bots following the event, calsync.bots.lifecycle).
    stored: dict[int, dict[str, Any]] = field(default_factory=dict)
    changes: AppliedChanges = field(default_factory=AppliedChanges)
    # The meetings of events that moved from one to another (`mtg_` ids, both): queued (calsync.meetings).
    meetings: set[str] = field(default_factory=set)

    def add_update(self, values: dict[str, Any], stored: dict[str, Any]) -> None:
        self.updates.append(values)
        self.stored[stored["id"]] = stored

    def updated_rows(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(stored row, values written) of each update; a tombstone writes only `is_deleted` and `status`."""
        for values in self.updates:
            yield self.stored[values["id"]], values


async def plan_page(
    session: AsyncSession, calendar: Calendar, events: Sequence[NormalizedEvent], removed_ids: Sequence[str]
) -> PagePlan:
    """Compare one page with what is stored (reads only). Rows carry no stamps yet; `write_page` adds them."""
    plan = PagePlan()
    latest = _last_version_of_each(events)
    gone = [uuid for uuid in dict.fromkeys(removed_ids) if uuid not in latest]
    if not latest and not gone:
        return plan
    existing = await _existing(session, calendar.id, [*latest, *gone])
    changes = plan.changes
    # An id for each event that may be new, drawn at once (a cancellation among them leaves one unused).
    fresh_ids = iter(new_ids("evt_", sum(1 for uuid in latest if uuid not in existing)))

    for uuid, event in latest.items():
        row = existing.get(uuid)
        if event.is_deleted or event.start_time is None or event.end_time is None:
            if row is not None and not row["is_deleted"]:
                plan.add_update(_tombstone(row), row)
                changes.deleted.append(row["object_id"])
            # A cancellation of an event never stored (e.g. an instance outside the window) has nothing to update.
            continue
        values = event_values(event)
        digest = content_hash(values)
        # Derived from the values alone (a digest of the grouping key): no read, no lock (calsync.sync.meeting_keys).
        meeting = event_meeting_id(calendar.project_id, values, calendar.id)
        if row is None:
            object_id = next(fresh_ids)
            values.update(
                object_id=object_id,
                project_id=calendar.project_id,
                calendar_id=calendar.id,
                content_hash=digest,
                meeting_object_id=meeting,
            )
            plan.inserts.append(values)
            changes.created.append(object_id)
        elif row["content_hash"] != digest:
            values.update(id=row["id"], content_hash=digest, meeting_object_id=meeting)
            plan.add_update(values, row)
            _left(plan, row, meeting)
            changes.updated[row["object_id"]] = changed_fields(row, values)

    for uuid in gone:
        row = existing.get(uuid)
        if row is not None and not row["is_deleted"]:
            plan.add_update(_tombstone(row), row)
            changes.deleted.append(row["object_id"])
    return plan


def _left(plan: PagePlan, row: dict[str, Any], meeting: str) -> None:
    """An event that moved to another meeting queues both: the one it left must be re-evaluated, and queued
    together the two are evaluated together (a bot the event carries goes with it). (The meetings of the other
    rows a page writes are found from their change numbers, calsync.meetings.scan.)"""
    if row["meeting_object_id"] is not None and row["meeting_object_id"] != meeting:
        plan.meetings.update((row["meeting_object_id"], meeting))


async def write_page(session: AsyncSession, calendar: Calendar, plan: PagePlan, now: datetime) -> None:
    """Stamp and number the planned rows from the change clock and write them (`take_change_clock`)."""
    if not plan.inserts and not plan.updates:
        return
    clock = await take_change_clock(session, calendar.project_id, len(plan.inserts) + len(plan.updates), now)
    numbers = iter(clock.numbers)
    # The update-lag class goes with every stamp: the events API trusts it to bound created_at (duration_classes).
    new_row_class = update_lag_class(clock.stamp, clock.stamp)
    for row in plan.inserts:
        row["created_at"] = row["updated_at"] = clock.stamp
        row["update_lag_class"] = new_row_class
        row["change_seq"] = next(numbers)
    for row in plan.updates:
        row["updated_at"] = clock.stamp
        row["update_lag_class"] = update_lag_class(plan.stored[row["id"]]["created_at"], clock.stamp)
        row["change_seq"] = next(numbers)
    if plan.inserts:
        await _insert(await session.connection(), plan.inserts)
    # Bulk UPDATE by primary key wants one shape per batch; tombstones and full updates differ.
    by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in plan.updates:
        by_shape.setdefault(tuple(sorted(row)), []).append(row)
    for batch in by_shape.values():
        await session.execute(update(CalendarEvent), batch)


async def _insert(connection: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """New events, on the session's connection (not the ORM bulk path: no per-row instance bookkeeping).

    PostgreSQL: one binary COPY (asyncpg's `copy_records_to_table`) in the same transaction. An executemany
    INSERT spent a sixth of an initial-sync worker's CPU in SQLAlchemy's per-row parameter processing and
    asyncpg's per-row messages (bench/initial_sync.py, docs/benchmarks.md §2). JSON columns are encoded here as
    SQLAlchemy's JSON type would (None as JSON null); the driver's jsonb codec takes the text."""
    if connection.dialect.name != "postgresql":
        await connection.execute(insert(EVENTS_TABLE), rows)
        return
    columns = list(rows[0])
    json_positions = [index for index, name in enumerate(columns) if name in _JSON_COLUMNS]
    values_of = operator.itemgetter(*columns)
    records = []
    for row in rows:
        record = list(values_of(row))
        for index in json_positions:
            record[index] = json_codec.dumps_text(record[index])
        records.append(record)
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    await driver.copy_records_to_table(EVENTS_TABLE.name, records=records, columns=columns)


async def apply_page(
    session: AsyncSession,
    calendar: Calendar,
    events: Sequence[NormalizedEvent],
    removed_ids: Sequence[str],
    now: datetime,
) -> AppliedChanges:
    """`plan_page` then `write_page`, for callers with nothing to do in between."""
    plan = await plan_page(session, calendar, events, removed_ids)
    await write_page(session, calendar, plan, now)
    return plan.changes


def _tombstone(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "is_deleted": True, "status": "cancelled", "content_hash": "deleted"}


async def live_event_ids_in_window(
    session: AsyncSession, calendar_id: int, window_start: datetime, window_end: datetime
) -> set[str]:
    """Platform ids of stored, not deleted events that overlap the window (what a full list must return)."""
    parameters = {"calendar_id": calendar_id, "window_start": window_start, "window_end": window_end}
    return set((await session.execute(_LIVE_IN_WINDOW, parameters)).scalars().all())


_LIVE_IN_WINDOW = select(CalendarEvent.platform_uuid).where(
    CalendarEvent.calendar_id == bindparam("calendar_id"),
    CalendarEvent.is_deleted.is_(False),
    CalendarEvent.end_time > bindparam("window_start"),
    CalendarEvent.start_time < bindparam("window_end"),
)
