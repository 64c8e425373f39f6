"""The plan of an events listing, decided without a database: which reads make a page (one walk, a split at a
bound into two parts, the update-lag classes), the bounds of each read, and the choices the counts of the
filtered ranges decide on SQLite. calsync.store.queries.events runs the plan."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from calsync.store.duration_classes import UNBOUNDED_CLASS, earliest_begin
from calsync.store.keyset import SeekKey


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
    # Not an API filter: the change horizon (calsync.store.change_horizon), exclusive. Every read of the page keeps
    # below it; no plan depends on it.
    updated_before: datetime | None = None


Ranges = dict[str, tuple[datetime | None, datetime | None]]  # (lower, upper) bound per time column, inclusive


@dataclass(frozen=True)
class Seek:
    """Where a page's walk starts and which way it goes: the ordering's column, the seek key (None: the first
    page) and whether the walk descends (a descending ordering, or an ascending one walked backwards)."""

    column: str
    after: SeekKey | None
    descending: bool


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
# The most events of a calendar updated since a bound that a page sorts by creation; beyond it, one plain walk of
# the calendar's created_at index (docs/api.md).
MODIFIED_SORT_CAP = 50_000


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
        clear = replace(filters, end_time_gte=None, start_time_gte=latest(start_gte, end_gte))
        running = None if start_gte is not None and start_gte >= end_gte else replace(filters, end_time_gte=None)
        return RunningSplit(end_gte, clear, running, running_first=True, start_before_point=True)
    if order_column == "end_time" and start_lte is not None:
        clear = replace(filters, start_time_lte=None, end_time_lte=earliest(end_lte, start_lte))
        running = None if end_lte is not None and end_lte <= start_lte else replace(filters, start_time_lte=None)
        return RunningSplit(start_lte, clear, running, running_first=False, start_before_point=False)
    if order_column == "end_time" and start_gte is not None and (end_gte is None or end_gte < start_gte):
        # Not a split, only the implied bound stated: "starts at or after X" implies "ends at or after X", which
        # is the walk's own range, so the walk starts at X instead of passing every event that ended before it.
        stated = replace(filters, end_time_gte=start_gte)
        return RunningSplit(start_gte, stated, running=None, running_first=False, start_before_point=False)
    return None


@dataclass(frozen=True)
class ModifiedSplit:
    """`updated_at_gte=X` ordered by created_at, split at X. An event is updated at or after it is created
    (both are stamps of the project's change clock), so the events created at or after X all match (`clear`: a
    created_at range, dense) and the others were created before X and modified since: read through the
    updated_at index and their keys sorted. In ascending order they come first.
    Read as one walk, the filter is correlated with the ordering: the recently modified events were mostly
    created late, and PostgreSQL walked the created_at index past them (0.35 s at a million).

    Used for a calendar's pages (its updated_at index bounds the sort); the project's are read by update-lag
    class (`LagClasses`), which sorts at most 11 pages of keys however many events were updated."""

    point: datetime
    clear: EventFilters


def split_modified(filters: EventFilters, order_column: str) -> ModifiedSplit | None:
    point = filters.updated_at_gte
    if order_column != "created_at" or point is None:
        return None
    clear = replace(filters, updated_at_gte=None, created_at_gte=latest(filters.created_at_gte, point))
    return ModifiedSplit(point, clear)


# The reads a page is made of.


@dataclass(frozen=True)
class Nothing:
    """No calendar matched: an empty page, no query."""


@dataclass(frozen=True)
class Walk:
    """One walk of the filters along the ordering (or through a filter's index and sorted: `walk_driving`)."""

    filters: EventFilters


@dataclass(frozen=True)
class LagClasses:
    """The events updated since `updated_at_gte`, in creation order: one walk per update-lag class
    (`lag_class_ranges`), their keys merged."""

    filters: EventFilters


@dataclass(frozen=True)
class RunningAtPoint:
    """The events running at a RunningSplit's point: one range of the span index per class (`span_class_ranges`)."""

    split: RunningSplit
    filters: EventFilters


@dataclass(frozen=True)
class ModifiedBefore:
    """The events created before a ModifiedSplit's point and updated since: read through the updated_at index."""

    split: ModifiedSplit
    filters: EventFilters


Part = Walk | RunningAtPoint | ModifiedBefore


@dataclass(frozen=True)
class Joined:
    """The two parts of a split, in walk order: `then` is read only if the page (or whether another follows)
    reaches past `first`."""

    first: Part
    then: Part


@dataclass(frozen=True)
class IfFewUpdated:
    """`joined` if fewer than `cap` of the filters' events were updated since `updated_at_gte` (counted up to
    `cap`), else `otherwise`: a calendar's modified events are sorted only while they are few."""

    filters: EventFilters
    cap: int
    joined: Joined
    otherwise: Plan


Plan = Nothing | Walk | LagClasses | Joined | IfFewUpdated


def plan_page(filters: EventFilters, seek: Seek) -> Plan:
    """The reads of one page of `filters` in the order `seek` walks."""
    if filters.calendar_ids is not None and not filters.calendar_ids:
        return Nothing()
    if filters.event_object_id is not None:  # one event at most
        return Walk(filters)
    modified = split_modified(filters, seek.column)
    if modified is not None and filters.calendar_ids is None:
        return LagClasses(filters)
    by_running = _running_plan(filters, seek)
    if modified is None:
        return by_running
    joined = _joined(ModifiedBefore(modified, filters), Walk(modified.clear), part_first=not seek.descending)
    return IfFewUpdated(filters, MODIFIED_SORT_CAP, joined, otherwise=by_running)


def _running_plan(filters: EventFilters, seek: Seek) -> Walk | Joined:
    split = split_at_running(filters, seek.column)
    if split is None:
        return Walk(filters)
    if split.running is None:
        return Walk(split.clear)
    part_first = split.running_first != seek.descending
    return _joined(RunningAtPoint(split, split.running), Walk(split.clear), part_first=part_first)


def _joined(part: Part, other: Part, *, part_first: bool) -> Joined:
    return Joined(part, other) if part_first else Joined(other, part)


# The bounds of each read.


def ranges_of(filters: EventFilters) -> Ranges:
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
            ("start_time", (filters.start_time_gte, earliest(filters.start_time_lte, filters.end_time_lte))),
            ("end_time", (filters.end_time_gte, filters.end_time_lte)),
        )
        if bounds != (None, None)
    }


def seek_bounded(ranges: Ranges, seek: Seek) -> Ranges:
    """`ranges` with the ordering column's own bound moved to the seek key where that is tighter. The seek
    `(column, id) > key` implies `column >= key`, but with a looser filter bound on the column stated too,
    SQLite starts the index range at the filter bound and passes every entry up to the key (a deep page of
    `start_time_gte=X` ordered by start: 40 ms at a million)."""
    column, after = seek.column, seek.after
    if after is None or column not in ranges:
        return ranges
    lower, upper = ranges[column]
    if seek.descending and upper is not None:
        return {**ranges, column: (lower, min(upper, after.value))}
    if not seek.descending and lower is not None:
        return {**ranges, column: (max(lower, after.value), upper)}
    return ranges


def walk_ranges(filters: EventFilters, seek: Seek) -> Ranges:
    """The ranges a walk of `filters` states."""
    return seek_bounded(ranges_of(filters), seek)


def counts_ranges(filters: EventFilters, ranges: Ranges, order_column: str) -> bool:
    """Whether a walk on SQLite counts its filtered ranges to choose the index it reads through: SQLite has no
    range statistics, so with a range on another column than the ordering's it would guess (one event needs
    no choice)."""
    return filters.event_object_id is None and any(name != order_column for name in ranges)


def smallest(sizes: dict[str, int], cap: int) -> str | None:
    """The column with the smallest range under `cap` (the first one of equals), if any."""
    under = [(count, name) for name, count in sizes.items() if count < cap]
    return min(under, key=lambda item: item[0])[1] if under else None


def span_class_ranges(split: RunningSplit, filters: EventFilters) -> list[tuple[int, Ranges]]:
    """The ranges of each span class's read of the events running at the split's point (the terms at the point
    are the reader's): each states only the tightest bound on start_time of each side, the filter's lower bound
    or the class's earliest start, whichever is later. SQLite bounds an index range by one term per side, and
    given the filter's `start_time_lte` beside `start_time < point` it took the looser one
    (`calendar_id & end_time_gte=now & start_time_lte=now+7d`: a week of the project's events instead of the
    last half hour's, 48 ms instead of ~1 at a million)."""
    point = split.point
    ranges = ranges_of(filters)
    lower, upper = ranges.pop("start_time", (None, None))
    if upper is not None and upper >= point:
        upper = None  # implied by the term at the point
    classes = []
    for span in range(UNBOUNDED_CLASS + 1):
        begin = earliest_begin(span, point)
        bound = lower if begin is None or (lower is not None and lower >= begin) else begin
        classes.append((span, {**ranges, "start_time": (bound, upper)}))
    return classes


def lag_class_ranges(filters: EventFilters, seek: Seek) -> list[tuple[int, Ranges]]:
    """The ranges of each update-lag class's walk of the events updated at or after `updated_at_gte`, in creation
    order: each starts at the earliest creation an event of its class updated since the bound can have
    (calsync.store.duration_classes)."""
    point = filters.updated_at_gte
    assert point is not None and seek.column == "created_at"
    filtered = ranges_of(filters)
    created_lower, created_upper = filtered.get("created_at", (None, None))
    classes = []
    for lag in range(UNBOUNDED_CLASS + 1):
        created = (latest(created_lower, earliest_begin(lag, point)), created_upper)
        classes.append((lag, seek_bounded({**filtered, "created_at": created}, seek)))
    return classes


def earliest(*values: datetime | None) -> datetime | None:
    present = [value for value in values if value is not None]
    return min(present) if present else None


def latest(*values: datetime | None) -> datetime | None:
    present = [value for value in values if value is not None]
    return max(present) if present else None
