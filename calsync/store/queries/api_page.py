"""A page of the events API read in one prepared statement on PostgreSQL, without SQLAlchemy on the way: the
pages that are one plain walk (calsync.store.queries.event_plan.Walk), which are most of them (a calendar's, a
time window's or the project's pages in any ordering whose filters need no split).

Building, compiling and executing the page's statement through SQLAlchemy cost ~4 ms of CPU per request of the
~6 left (docs/benchmarks.md §15). Here the SQL text is written once per shape of the page (ordering, direction,
which filters are present, whether a seek key applies, how the calendar is named) and run on the pooled
connection's asyncpg driver, which prepares each text once per connection; only the values change per request.
A calendar named by the request is resolved inside the statement (a lateral join from the matching calendars to
each one's own index walk), so the page is one round trip. What is read of each event is the caller's
`projection`: SQL expressions over the event (`e`) and its calendar (`c`); the API's builds each event's JSON
text in PostgreSQL (calsync.api.event_wire_sql). Every other plan is left to calsync.store.queries.events."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from calsync.store.keyset import Keyset, KeysetPage, SeekKey
from calsync.store.models import Bot, Calendar, CalendarEvent
from calsync.store.queries import event_plan as plan
from calsync.store.queries.events import BOT_FIELDS


@dataclass(frozen=True)
class CalendarNamed:
    """The calendar the request names (its `calendar_id` and/or `calendar_deduplication_key`), unresolved."""

    object_id: str | None = None
    deduplication_key: str | None = None


@dataclass(frozen=True)
class _Shape:
    """What the SQL text of a page depends on; the values are bound."""

    order_column: str
    descending: bool
    calendar_object_id: bool
    calendar_deduplication_key: bool
    event_object_id: bool
    bounds: tuple[tuple[str, bool, bool], ...]  # (column, has lower, has upper) per ranged column
    is_deleted: bool | None
    below_horizon: bool
    seek: bool
    projection: tuple[str, ...]
    limit: int


@dataclass(frozen=True)
class ProjectedPage:
    """A page's rows, each `(id, sort value, *projection)` in page order; `bots` holds each event's bots in every
    state, oldest first, as tuples of calsync.store.queries.events.BOT_FIELDS."""

    page: KeysetPage[tuple[Any, ...]]
    bots: dict[int, list[tuple[Any, ...]]]


def plain_walk(filters: plan.EventFilters, calendar: CalendarNamed | None, keyset: Keyset) -> plan.EventFilters | None:
    """The walk's filters if the page is one plain walk, else None (the page takes calsync.store.queries.events).
    A named calendar is planned as if resolved: the plan depends on whether calendars are named, not which."""
    named = replace(filters, calendar_ids=[0]) if calendar is not None else filters
    page_plan = plan.plan_page(named, plan.Seek(keyset.sort_column.key, keyset.after, keyset.walk_descending))
    if not isinstance(page_plan, plan.Walk):
        return None
    return replace(page_plan.filters, calendar_ids=None)


async def read_page(
    connection: Any,
    project_id: int,
    filters: plan.EventFilters,
    calendar: CalendarNamed | None,
    keyset: Keyset,
    projection: tuple[str, ...],
) -> ProjectedPage:
    """The page of a plain walk (`plain_walk`'s filters) on an asyncpg connection: the events and bots that
    `calsync.store.queries.events.list_api_events` returns for it, each event as its `projection`."""
    seek = plan.Seek(keyset.sort_column.key, keyset.after, keyset.walk_descending)
    ranges = plan.walk_ranges(filters, seek)
    keyset = replace(keyset, lower_bound=ranges.get(keyset.sort_column.key, (None, None))[0])
    values: list[Any] = [project_id]
    if calendar is not None:
        values += [v for v in (calendar.object_id, calendar.deduplication_key) if v is not None]
    if filters.event_object_id is not None:
        values.append(filters.event_object_id)
    bounds = []
    for name, (lower, upper) in ranges.items():
        values += [v for v in (lower, upper) if v is not None]
        bounds.append((name, lower is not None, upper is not None))
    if filters.updated_before is not None:
        values.append(filters.updated_before)
    after = keyset.after
    seeks = after is not None and not (
        keyset.lower_bound is not None and not keyset.walk_descending and after.value < keyset.lower_bound
    )
    if seeks:
        assert after is not None
        values += [after.value, after.row_id]
    shape = _Shape(
        order_column=keyset.sort_column.key,
        descending=keyset.walk_descending,
        calendar_object_id=calendar is not None and calendar.object_id is not None,
        calendar_deduplication_key=calendar is not None and calendar.deduplication_key is not None,
        event_object_id=filters.event_object_id is not None,
        bounds=tuple(bounds),
        is_deleted=filters.is_deleted,
        below_horizon=filters.updated_before is not None,
        seek=seeks,
        projection=projection,
        limit=keyset.limit + 1,
    )
    records = await connection.fetch(_sql(shape, calendar is not None), *values)
    rows: list[tuple[Any, ...]] = []
    bots: dict[int, list[tuple[Any, ...]]] = {}
    last_id, first_bot = None, 2 + len(projection)
    for record in records:
        event_id = record[0]
        if event_id != last_id:
            rows.append(tuple(record[:first_bot]))
            last_id = event_id
        if record[first_bot] is not None:
            bots.setdefault(event_id, []).append(tuple(record[first_bot:]))
    return ProjectedPage(keyset.page(rows, key_of=lambda row: SeekKey(row[1], row[0])), bots)


@cache  # bounded: a shape is a few flags, an ordering and one of the API's two projections
def _sql(shape: _Shape, by_calendar: bool) -> str:
    """The page's statement for its shape: the walk selects ids (and the sort value) only, and the outer query
    reads the projection of those events (the page's rows only) and their bots. Only names of the models' own columns and bound placeholders enter the text, never a value."""
    events = CalendarEvent.__mapper__.columns
    sort = events[shape.order_column].name
    direction = "DESC" if shape.descending else "ASC"
    places = iter(range(2, 100))
    terms = ["project_id = $1"]
    calendar_terms = ["c.project_id = $1", "c.deleted_at IS NULL"]
    if shape.calendar_object_id:
        calendar_terms.append(f"c.object_id = ${next(places)}")
    if shape.calendar_deduplication_key:
        calendar_terms.append(f"c.deduplication_key = ${next(places)}")
    if by_calendar:
        terms.insert(0, "calendar_id = c.id")
    if shape.event_object_id:
        terms.append(f"object_id = ${next(places)}")
    for name, lower, upper in shape.bounds:
        bounded = events[name].name
        if lower:
            terms.append(f"{bounded} >= ${next(places)}")
        if upper:
            terms.append(f"{bounded} <= ${next(places)}")
    if shape.below_horizon:
        terms.append(f"updated_at < ${next(places)}")
    if shape.is_deleted is not None:
        terms.append(f"is_deleted IS {'true' if shape.is_deleted else 'false'}")
    if shape.seek:
        comparison = "<" if shape.descending else ">"
        terms.append(f"({sort}, id) {comparison} (${next(places)}, ${next(places)})")
    walk = (
        f"SELECT id, {sort} AS sort_value FROM calendar_events WHERE {' AND '.join(terms)} "  # noqa: S608
        f"ORDER BY {sort} {direction}, id {direction} LIMIT {shape.limit}"
    )
    if by_calendar:
        # Each matching calendar walks its own index; PostgreSQL planned `calendar_id = ANY(ARRAY(SELECT ...))`
        # as a walk of the project's index instead.
        walk = (
            f"SELECT w.id, w.sort_value FROM calendars c CROSS JOIN LATERAL ({walk}) w "  # noqa: S608
            f"WHERE {' AND '.join(calendar_terms)} "
            f"ORDER BY w.sort_value {direction}, w.id {direction} LIMIT {shape.limit}"
        )
    bot_columns = [f"b.{Bot.__mapper__.columns[name].name}" for name in BOT_FIELDS]
    assert Calendar.__tablename__ == "calendars" and Bot.__tablename__ == "bots"
    return (
        f"SELECT page.id, page.sort_value, {', '.join(shape.projection)}, {', '.join(bot_columns)} "  # noqa: S608
        f"FROM ({walk}) page JOIN calendar_events e ON e.id = page.id JOIN calendars c ON c.id = e.calendar_id "
        f"LEFT JOIN bots b ON b.event_id = e.id "
        f"ORDER BY e.{sort} {direction}, e.id {direction}, b.created_at, b.id"
    )
