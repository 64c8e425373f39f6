"""Reading events for the API. (Writes belong to the sync engine: calsync.sync.apply.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Dialect,
    Row,
    Select,
    Subquery,
    Text,
    func,
    literal,
    null,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util.typing import TupleAny

from calsync.store.duration_classes import UNBOUNDED_CLASS, earliest_begin
from calsync.store.keyset import (
    Keyset,
    KeysetPage,
    SeekKey,
    fetch_walk_rows,
    fetch_walk_rows_until,
    unindexed,
)
from calsync.store.models import Calendar, CalendarEvent


@dataclass(frozen=True)
class EventFilters:
    calendar_ids: list[int] | None = None  # already resolved within the project; [] means "matches nothing"
    event_object_id: str | None = None
    updated_at_gte: datetime | None = None
    start_time_gte: datetime | None = None
    start_time_lte: datetime | None = None
    end_time_gte: datetime | None = None
    end_time_lte: datetime | None = None
    is_deleted: bool | None = None
    created_at_gte: datetime | None = None  # not an API filter: set where a query is split (ModifiedSplit)


Ranges = dict[str, tuple[datetime | None, datetime | None]]  # (lower, upper) bound per time column, inclusive


class _StoredJSON(TypeDecorator[orjson.Fragment]):
    """A JSON column's stored text, handed on as `orjson.Fragment`: the response embeds it byte for byte."""

    impl = Text
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> orjson.Fragment | None:
        return None if value is None else orjson.Fragment(value)


def event_columns(dialect: str, *, include_raw: bool = True) -> list[ColumnElement[Any]]:
    """What the API reads of an event, as named Core columns: building ORM instances was ~1 ms of a 100-row
    page. Without `raw` it is not even read (NULL).

    On SQLite the JSON columns are read as their stored text, which the response embeds unparsed (decoding
    three documents per row only to encode them again was ~1 ms of a page). Not on PostgreSQL: there
    `raw::text` is computed below the sort, for every row a sorting plan reads (a 3-day window with the
    default ordering went from 15.7 to 29.5 ms, bench/events_api.py --quick), while the driver's JSONB decoding
    (orjson) costs only the page's rows."""
    e = CalendarEvent

    def json_column(column: InstrumentedAttribute[Any]) -> ColumnElement[Any]:
        if dialect == "sqlite":
            return type_coerce(column, _StoredJSON()).label(column.key)
        return column.expression

    raw = json_column(e.raw) if include_raw else null().label("raw")
    plain = (e.id, e.object_id, e.calendar_id, e.platform_uuid, e.meeting_url, e.start_time, e.end_time,
             e.is_deleted, e.ical_uid, e.name, e.created_at, e.updated_at, e.is_all_day, e.time_zone, e.status,
             e.location, e.recurring_event_id, e.html_link, e.meeting_platform, e.change_seq,
             e.meeting_object_id)  # fmt: skip
    return [*(column.expression for column in plain), json_column(e.attendees), json_column(e.organizer), raw]


# SQLite: the most rows a page may read through a filter's index and then sort. Sorting costs ~1.6 µs per row
# on SQLite (the row is fetched and put in a temp B-tree), so the cap bounds that plan at ~16 ms; beyond it
# the ordering index is walked instead. docs/benchmarks.md §3 (e) has the measurements.
SQLITE_SORT_CAP = 10_000
# SQLite: how many rows of the ordering index a walk examines before it gives up on finding the page there
# (~0.7 µs a row where the ordering follows the table's rowid order, like created_at; ~2.5 µs where it does
# not, like start_time: each row is fetched to test the filter). A walk is only chosen with every filtered
# range at or over SQLITE_SORT_CAP, so matches are that dense unless the filter is correlated with the
# ordering, and then they sit further on: reading the smallest range through its own index and sorting it is
# cheaper than walking on, if it holds fewer than SQLITE_FALLBACK_SORT_CAP rows (~2-3 µs each). Otherwise the
# walk goes on, unbounded: the worst case left (docs/api.md).
SQLITE_WALK_ROWS = 10_000
SQLITE_FALLBACK_SORT_CAP = 100_000


@dataclass(frozen=True)
class RunningSplit:
    """A filter that bounds the *other* time column than the ordering's, cut at its bound (the point) into two
    queries that each read only what they return.

    Every event runs from start to end (end >= start, calsync.sync.rows), so for `end_time_gte=X` ordered by
    start: the events starting at or after X all match (`clear`: a start_time range, dense), and the others are
    the ones running at X (start < X <= end), found by span class (calsync.store.duration_classes). Ordered by
    start, the running ones come first. Mirrored for `start_time_lte=Y` ordered by end: the events ending by Y
    all match, then the ones running at Y (start <= Y < end). Read as one walk, these filters are correlated with
    the ordering: "on now or coming up, in start order" walked every event that had ended (1.1 s at a million).
    Where no event past the bound can run at it (`start_time_gte=X` ordered by end), only the implied bound is
    stated and `running` is None."""

    point: datetime
    clear: EventFilters  # past the point along the ordering; the split bound is implied there
    running: EventFilters | None  # the other filters for the events running at the point; None: there are none
    running_first: bool  # in ascending order, the running events come before the clear ones
    start_before_point: bool  # running means start < point <= end (end_time_gte) or start <= point < end


def split_at_running(filters: EventFilters, order_column: str) -> RunningSplit | None:
    start_gte, start_lte, end_gte, end_lte = (
        filters.start_time_gte,
        filters.start_time_lte,
        filters.end_time_gte,
        filters.end_time_lte,
    )
    if order_column == "start_time" and end_gte is not None:
        clear = replace(filters, end_time_gte=None, start_time_gte=_latest(start_gte, end_gte))
        running = None if start_gte is not None and start_gte >= end_gte else replace(filters, end_time_gte=None)
        return RunningSplit(end_gte, clear, running, running_first=True, start_before_point=True)
    if order_column == "end_time" and start_lte is not None:
        clear = replace(filters, start_time_lte=None, end_time_lte=_earliest(end_lte, start_lte))
        running = None if end_lte is not None and end_lte <= start_lte else replace(filters, start_time_lte=None)
        return RunningSplit(start_lte, clear, running, running_first=False, start_before_point=False)
    if order_column == "end_time" and start_gte is not None and (end_gte is None or end_gte < start_gte):
        # Not a split, only the implied bound stated: "starts at or after X" implies "ends at or after X", which
        # is the walk's own range, so the walk starts at X instead of passing every event that ended before it.
        stated = replace(filters, end_time_gte=start_gte)
        return RunningSplit(start_gte, stated, running=None, running_first=False, start_before_point=False)
    return None


# The most events of a calendar updated since a bound that a page sorts by creation; beyond it, one plain walk of
# the calendar's created_at index (docs/api.md).
MODIFIED_SORT_CAP = 50_000


@dataclass(frozen=True)
class ModifiedSplit:
    """`updated_at_gte=X` ordered by created_at, split at X. An event is updated at or after it is created
    (both are stamps of the project's change clock), so the events created at or after X all match (`clear`: a
    created_at range, dense) and the others were created before X and modified since: read through the
    updated_at index and their keys sorted. In ascending order they come first.
    Read as one walk, the filter is correlated with the ordering: the recently modified events were mostly
    created late, and PostgreSQL walked the created_at index past them (0.35 s at a million).

    Used for a calendar's pages (its updated_at index bounds the sort); the project's are read by update-lag
    class (`_EventReader.lag_rows`), which sorts at most 11 pages of keys however many events were updated."""

    point: datetime
    clear: EventFilters


def split_modified(filters: EventFilters, order_column: str) -> ModifiedSplit | None:
    point = filters.updated_at_gte
    if order_column != "created_at" or point is None:
        return None
    clear = replace(filters, updated_at_gte=None, created_at_gte=_latest(filters.created_at_gte, point))
    return ModifiedSplit(point, clear)


async def list_events(
    session: AsyncSession,
    project_id: int,
    filters: EventFilters,
    *,
    order_column: str,
    descending: bool,
    after: SeekKey | None,
    backwards: bool,
    limit: int,
    include_raw: bool = True,
) -> KeysetPage[Row[*TupleAny]]:
    """The page's rows carry the columns of `event_columns` (see there for the JSON ones)."""
    if filters.calendar_ids is not None and not filters.calendar_ids:
        return KeysetPage([], None, None)
    reader = _EventReader(session, project_id, session.get_bind().dialect.name, include_raw)
    keyset = Keyset(
        getattr(CalendarEvent, order_column),
        CalendarEvent.id,
        descending=descending,
        after=after,
        backwards=backwards,
        limit=limit,
    )
    if filters.event_object_id is not None:  # one event at most
        return keyset.page(await reader.walk_rows(filters, keyset))
    modified = split_modified(filters, order_column)
    if modified is not None and filters.calendar_ids is None:
        return keyset.page(await reader.lag_rows(filters, keyset))
    if modified is not None and await reader.range_size(filters, "updated_at") < MODIFIED_SORT_CAP:
        modified_first = not keyset.walk_descending
        return keyset.page(
            await _joined(
                lambda: reader.modified_rows(modified, filters, keyset),
                lambda: reader.walk_rows(modified.clear, keyset),
                keyset,
                first_part_first=modified_first,
            )
        )
    split = split_at_running(filters, order_column)
    if split is None:
        return keyset.page(await reader.walk_rows(filters, keyset))
    running = split.running
    if running is None:
        return keyset.page(await reader.walk_rows(split.clear, keyset))
    return keyset.page(
        await _joined(
            lambda: reader.running_rows(split, running, keyset),
            lambda: reader.walk_rows(split.clear, keyset),
            keyset,
            first_part_first=split.running_first != keyset.walk_descending,
        )
    )


async def _joined(
    part: Callable[[], Awaitable[list[Row[*TupleAny]]]],
    other_part: Callable[[], Awaitable[list[Row[*TupleAny]]]],
    keyset: Keyset,
    *,
    first_part_first: bool,
) -> list[Row[*TupleAny]]:
    """The walk over two parts of a split query, in walk order: the second part is read only if the page (or
    whether another follows) reaches past the first."""
    first, second = (part, other_part) if first_part_first else (other_part, part)
    rows = await first()
    if len(rows) <= keyset.limit:
        rows += await second()
    return rows[: keyset.limit + 1]


class _EventReader:
    """Builds and runs the queries of one page."""

    def __init__(self, session: AsyncSession, project_id: int, dialect: str, include_raw: bool) -> None:
        self.session = session
        self.project_id = project_id
        self.sqlite = dialect == "sqlite"
        self.columns = event_columns(dialect, include_raw=include_raw)

    def scope(self, filters: EventFilters) -> list[ColumnElement[bool]]:
        """The term that scopes a probe to the filter's calendars or else the project (indexable)."""
        if filters.calendar_ids is None:
            return [CalendarEvent.project_id == self.project_id]
        return [CalendarEvent.calendar_id.in_(filters.calendar_ids)]

    def where(
        self, filters: EventFilters, driving: str | None, *, by_project: bool = False, ranges: Ranges | None = None
    ) -> list[Any]:
        """The filters' terms. On SQLite with a `driving` column chosen, every other time column is written
        `+column` so SQLite cannot wander onto its index; `by_project` keeps the project's term indexable (and
        not the calendars') for an index that leads with the project."""

        def column(name: str) -> Any:
            attribute = getattr(CalendarEvent, name)
            return attribute if driving is None or name == driving else self._unindexed_on_sqlite(attribute)

        terms: list[Any] = []
        if filters.calendar_ids is None:
            terms.append(CalendarEvent.project_id == self.project_id)
        else:
            # The calendars were resolved within the project; the project term only guards. On SQLite with a
            # chosen plan it must not offer the project-wide indexes, which the probe did not count.
            calendars = CalendarEvent.calendar_id if not by_project else column("calendar_id")
            project = column("project_id") if not by_project else CalendarEvent.project_id
            terms += [calendars.in_(filters.calendar_ids), project == self.project_id]
        if filters.event_object_id is not None:
            terms.append(CalendarEvent.object_id == filters.event_object_id)
        for name, (lower, upper) in (_ranges(filters) if ranges is None else ranges).items():
            if lower is not None:
                terms.append(column(name) >= lower)
            if upper is not None:
                terms.append(column(name) <= upper)
        if filters.is_deleted is not None:
            terms.append(CalendarEvent.is_deleted.is_(filters.is_deleted))
        return terms

    def statement(self, filters: EventFilters, ranges: Ranges, driving: str | None) -> Select[*TupleAny]:
        return select(*self.columns).where(*self.where(filters, driving, ranges=ranges))

    async def walk_rows(self, filters: EventFilters, keyset: Keyset) -> list[Row[*TupleAny]]:
        """The page's walk (up to limit + 1 rows) along the ordering's index, or through a filter's index and
        sorted (SQLite: chosen by counting, `_range_sizes`; PostgreSQL: its planner)."""
        session, order_column = self.session, keyset.sort_column.key
        ranges = _seek_bounded(_ranges(filters), keyset)
        # The filter's own lower bound on the sort column, which makes a seek key behind it redundant (Keyset).
        keyset = replace(keyset, lower_bound=ranges.get(order_column, (None, None))[0])
        driving: str | None = None
        if self.sqlite and filters.event_object_id is None and any(name != order_column for name in ranges):
            scope = self.scope(filters)
            driving = _smallest(await _range_sizes(session, scope, ranges, SQLITE_SORT_CAP), SQLITE_SORT_CAP)
            if driving is None:
                driving = order_column
                walk_end = await _sqlite_walk_end(session, scope, ranges.get(order_column), keyset)
                if walk_end is not None:
                    statement = self.statement(filters, ranges, order_column)
                    rows = await fetch_walk_rows_until(session, statement, keyset, until=walk_end)
                    if rows is not None:
                        return rows
                    sizes = await _range_sizes(session, scope, ranges, SQLITE_FALLBACK_SORT_CAP)
                    driving = _smallest(sizes, SQLITE_FALLBACK_SORT_CAP) or order_column
        unindexed_sort = driving is not None and driving != order_column
        return await fetch_walk_rows(
            session, self.statement(filters, ranges, driving), replace(keyset, unindexed_sort=unindexed_sort)
        )

    async def running_rows(self, split: RunningSplit, filters: EventFilters, keyset: Keyset) -> list[Row[*TupleAny]]:
        """The page's walk over the events running at the split's point: one range of the span index per class,
        each bounded by the class's longest span. The keys of all of them (few: the events on at one time) are
        merged and sorted, and only the page's rows are read in full.

        Each range states only the tightest bound on start_time of each side: SQLite bounds an index range by one
        term per side, and given the filter's `start_time_lte` beside `start_time < point` it took the looser one
        (`calendar_id & end_time_gte=now & start_time_lte=now+7d`: a week of the project's events instead of the
        last half hour's, 48 ms instead of ~1 at a million)."""
        point, start = split.point, CalendarEvent.start_time
        end = self._unindexed_on_sqlite(CalendarEvent.end_time)
        at_point = [start < point, end >= point] if split.start_before_point else [start <= point, end > point]
        ranges = _ranges(filters)
        lower, upper = ranges.pop("start_time", (None, None))
        if upper is not None and upper >= point:
            upper = None  # implied by the term at the point
        sort_column = keyset.sort_column
        branches = []
        for span in range(UNBOUNDED_CLASS + 1):
            earliest = earliest_begin(span, point)
            # The filter's lower bound, or the class's earliest start, whichever is later (the other is implied).
            bound = lower if earliest is None or (lower is not None and lower >= earliest) else earliest
            terms = self.where(filters, "start_time", by_project=True, ranges={**ranges, "start_time": (bound, upper)})
            branches.append(
                replace(keyset, unindexed_sort=self.sqlite).seek(
                    select(CalendarEvent.id, sort_column).where(*terms, *at_point, CalendarEvent.span_class == span)
                )
            )
        return await self._rows_of_merged(union_all(*branches).subquery("running"), keyset)

    async def lag_rows(self, filters: EventFilters, keyset: Keyset) -> list[Row[*TupleAny]]:
        """The page's walk over the events updated at or after `updated_at_gte`, in creation order: one walk of the
        update-lag index per class, each starting at the earliest creation an event of its class updated since
        the bound can have (calsync.store.duration_classes). The index holds updated_at and the other filtered
        columns, so the rows a walk passes are tested on index entries; each stops after limit + 1 matches.
        Their keys are merged and sorted, and only the page's rows are read in full."""
        point = filters.updated_at_gte
        assert point is not None and keyset.sort_column.key == "created_at"
        filtered = _ranges(filters)
        created_lower, created_upper = filtered.get("created_at", (None, None))
        branches = []
        for lag in range(UNBOUNDED_CLASS + 1):
            created = (_latest(created_lower, earliest_begin(lag, point)), created_upper)
            ranges = _seek_bounded({**filtered, "created_at": created}, keyset)
            walk = replace(keyset, lower_bound=ranges["created_at"][0]).statement(
                select(CalendarEvent.id, CalendarEvent.created_at).where(
                    *self.where(filters, "created_at", by_project=True, ranges=ranges),
                    CalendarEvent.update_lag_class == lag,
                )
            )
            branches.append(select(walk.subquery()))
        return await self._rows_of_merged(union_all(*branches).subquery("modified"), keyset)

    async def _rows_of_merged(self, keys: Subquery, keyset: Keyset) -> list[Row[*TupleAny]]:
        """The page's rows, read in full, of the (id, sort column) keys several index ranges gave: sorted here.
        On SQLite the orderings are written `+column`: left plain, SQLite merges the ranges in order and reads
        each through the sort column's index instead (the running events: past every event that started before
        the point)."""
        unindexed = self._unindexed_on_sqlite
        sort_column = keyset.sort_column
        page_ids = keyset.ordered(select(keys.c.id), unindexed(keys.c[sort_column.key]), unindexed(keys.c.id))
        return await self._rows_of(page_ids, keyset)

    async def _rows_of(self, page_ids: Select[*TupleAny], keyset: Keyset) -> list[Row[*TupleAny]]:
        """The rows of the page's ids, read in full, in walk order."""
        statement = select(*self.columns).where(CalendarEvent.id.in_(page_ids.scalar_subquery()))
        on_sqlite = self._unindexed_on_sqlite
        statement = keyset.ordered(statement, on_sqlite(keyset.sort_column), on_sqlite(CalendarEvent.id))
        return list((await self.session.execute(statement)).all())

    async def range_size(self, filters: EventFilters, column: str) -> int:
        """How many events of the filters' scope lie in their range on `column`, counted up to MODIFIED_SORT_CAP."""
        ranges = {column: _ranges(filters)[column]}
        return (await _range_sizes(self.session, self.scope(filters), ranges, MODIFIED_SORT_CAP))[column]

    async def modified_rows(self, split: ModifiedSplit, filters: EventFilters, keyset: Keyset) -> list[Row[*TupleAny]]:
        """The page's walk over the events created before the split's point and updated since: their keys read
        through the updated_at index and sorted (the ordering is written `unindexed` on both databases, so that
        neither walks the created_at index instead), then only the page's rows read in full."""
        created = unindexed(CalendarEvent.created_at)
        keys = select(CalendarEvent.id).where(*self.where(filters, "updated_at"), created < split.point)
        sorted_keys = replace(keyset, unindexed_sort=True)
        page_ids = sorted_keys.ordered(sorted_keys.seek(keys), created, unindexed(CalendarEvent.id))
        return await self._rows_of(page_ids, keyset)

    def _unindexed_on_sqlite(self, column: Any) -> Any:
        """`+column` on SQLite (no index can serve the term); PostgreSQL chooses by its statistics."""
        return unindexed(column) if self.sqlite else column


def _ranges(filters: EventFilters) -> Ranges:
    """The filters as a range per time column.

    An event never ends before it starts, so "ends by X" implies "starts by X". Stating it lets the planner
    range-scan a start_time index for the next-hour question instead of filtering a million rows under another
    ordering (bench/events_api.py: 1.6 s → 0.8 ms). The mirror bound (ends after a start bound) is not stated
    here: with ranges on both columns PostgreSQL underestimates the matches by the product of two correlated
    selectivities and picks a fetch-everything-and-sort plan (55 ms for a day). `split_at_running` states it
    where the ordering is by end, since there it is the walk's own range."""
    return {
        column: bounds
        for column, bounds in (
            ("updated_at", (filters.updated_at_gte, None)),
            ("created_at", (filters.created_at_gte, None)),
            ("start_time", (filters.start_time_gte, _earliest(filters.start_time_lte, filters.end_time_lte))),
            ("end_time", (filters.end_time_gte, filters.end_time_lte)),
        )
        if bounds != (None, None)
    }


async def _range_sizes(
    session: AsyncSession,
    scope: list[ColumnElement[bool]],
    ranges: Ranges,
    cap: int,
) -> dict[str, int]:
    """How many rows each filtered column's range holds in its (scope, column, id) index, counted up to `cap`
    (index-only, ~35 ns a row).

    SQLite has no range statistics: with a range on another column than the ordering's it guesses, and a
    wrong guess either walks the ordering index past a million non-matching rows (`updated_at_gte` of the
    last hour with `ordering=start_time`: 2 s) or sorts every row of an unselective range (a 3-day window
    with the default ordering: 112 ms). So `walk_rows` counts: the smallest range under SQLITE_SORT_CAP is
    read through its index and sorted (bounded by the cap; walking the ordering's own range would read at least
    as many rows). With every range at or over the cap the ordering index is walked, for at most
    SQLITE_WALK_ROWS rows; a walk that found too few matches there (a filter correlated with the ordering)
    counts again, up to SQLITE_FALLBACK_SORT_CAP. On both databases, `ModifiedSplit` counts the events updated
    since its bound the same way."""
    sizes: dict[str, int] = {}
    for name, (lower, upper) in ranges.items():
        attribute = getattr(CalendarEvent, name)
        probe = select(literal(1)).where(*scope)
        if lower is not None:
            probe = probe.where(attribute >= lower)
        if upper is not None:
            probe = probe.where(attribute <= upper)
        sizes[name] = (
            await session.execute(select(func.count()).select_from(probe.limit(cap).subquery()))
        ).scalar_one()
    return sizes


def _smallest(sizes: dict[str, int], cap: int) -> str | None:
    """The column with the smallest range under `cap` (the first one of equals), if any."""
    under = [(count, name) for name, count in sizes.items() if count < cap]
    return min(under, key=lambda item: item[0])[1] if under else None


async def _sqlite_walk_end(
    session: AsyncSession,
    scope: list[ColumnElement[bool]],
    own_range: tuple[datetime | None, datetime | None] | None,
    keyset: Keyset,
) -> SeekKey | None:
    """The key SQLITE_WALK_ROWS rows into the walk (from the seek key, within the filter's range on the sort
    column itself), read index-only (~35 ns a row); None when the walk has fewer rows left than that."""
    sort_column = keyset.sort_column
    walk = select(sort_column, CalendarEvent.id).where(*scope)
    if own_range is not None:
        lower, upper = own_range
        if lower is not None:
            walk = walk.where(sort_column >= lower)
        if upper is not None:
            walk = walk.where(sort_column <= upper)
    walk = keyset.statement(walk).limit(1).offset(SQLITE_WALK_ROWS - 1)
    row = (await session.execute(walk)).one_or_none()
    return None if row is None else SeekKey(row[0], row[1])


def _seek_bounded(ranges: Ranges, keyset: Keyset) -> Ranges:
    """`ranges` with the ordering column's own bound moved to the seek key where that is tighter. The seek
    `(column, id) > key` implies `column >= key`, but with a looser filter bound on the column stated too,
    SQLite starts the index range at the filter bound and passes every entry up to the key (a deep page of
    `start_time_gte=X` ordered by start: 40 ms at a million)."""
    column, after = keyset.sort_column.key, keyset.after
    if after is None or column not in ranges:
        return ranges
    lower, upper = ranges[column]
    if keyset.walk_descending and upper is not None:
        return {**ranges, column: (lower, min(upper, after.value))}
    if not keyset.walk_descending and lower is not None:
        return {**ranges, column: (max(lower, after.value), upper)}
    return ranges


def _earliest(*values: datetime | None) -> datetime | None:
    present = [value for value in values if value is not None]
    return min(present) if present else None


def _latest(*values: datetime | None) -> datetime | None:
    present = [value for value in values if value is not None]
    return max(present) if present else None


async def calendar_object_ids(session: AsyncSession, calendar_ids: set[int]) -> dict[int, str]:
    if not calendar_ids:
        return {}
    rows = await session.execute(select(Calendar.id, Calendar.object_id).where(Calendar.id.in_(calendar_ids)))
    return {row[0]: row[1] for row in rows}


async def get_event(session: AsyncSession, project_id: int, object_id: str) -> Row[*TupleAny] | None:
    columns = event_columns(session.get_bind().dialect.name)
    stmt = select(*columns).where(CalendarEvent.project_id == project_id, CalendarEvent.object_id == object_id)
    return (await session.execute(stmt)).one_or_none()
