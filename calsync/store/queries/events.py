"""Reading events for the API. (Writes belong to the sync engine: calsync.sync.apply.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Dialect,
    Row,
    Select,
    Subquery,
    Text,
    cast,
    func,
    literal,
    null,
    select,
    tuple_,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util.typing import TupleAny

from calsync.store.keyset import (
    Keyset,
    KeysetPage,
    SeekKey,
    unindexed,
)
from calsync.store.models import Bot, Calendar, CalendarEvent
from calsync.store.queries import event_plan as plan
from calsync.store.queries.event_plan import EventFilters as EventFilters
from calsync.store.queries.event_plan import Ranges


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
    """The page's rows carry the columns of `event_columns` (see there for the JSON ones). What is read is
    decided by calsync.store.queries.event_plan; this runs it."""
    keyset, page_plan = _planned(
        filters, order_column=order_column, descending=descending, after=after, backwards=backwards, limit=limit
    )
    if isinstance(page_plan, plan.Nothing):
        return KeysetPage([], None, None)
    reader = _EventReader(session, project_id, session.get_bind().dialect.name, include_raw)
    return keyset.page(await reader.rows(page_plan, keyset))


# The bot columns a page of the API reads with its events, in the order `ApiEventPage.bots` holds them.
BOT_FIELDS = ("object_id", "state", "state_reason", "meeting_url", "join_at", "dispatch_at", "event_object_id",
              "calendar_object_id", "bot_name", "metadata_", "deduplication_key", "join_offset_seconds",
              "dispatch_lead_seconds", "dispatched_at", "rule_object_id", "meeting_object_id", "created_at",
              "updated_at")  # fmt: skip
EVENT_FIELD_COUNT = 24  # the columns of `event_columns`; a page row of the API has its calendar's object id next


@dataclass(frozen=True)
class ApiEventPage:
    """A page of the API: each row holds the columns of `event_columns` by position, then the calendar's
    object id, with every JSON column as `orjson.Fragment` (stored text); `bots` holds each event's bots in every
    state, oldest first, as tuples of `BOT_FIELDS`."""

    page: KeysetPage[Row[*TupleAny]]
    bots: dict[int, list[tuple[Any, ...]]] = field(default_factory=dict)


async def list_api_events(
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
) -> ApiEventPage:
    """`list_events` for the API: every read of the page is one statement that also joins the calendar's object
    id and the events' bots, run on the session's Core connection (ORM execution cost ~1 ms per statement)."""
    keyset, page_plan = _planned(
        filters, order_column=order_column, descending=descending, after=after, backwards=backwards, limit=limit
    )
    if isinstance(page_plan, plan.Nothing):
        return ApiEventPage(KeysetPage([], None, None))
    reader = _ApiEventReader(session, project_id, session.get_bind().dialect.name, include_raw)
    rows = await reader.rows(page_plan, keyset)
    return ApiEventPage(keyset.page(rows), reader.bots)


def _planned(
    filters: EventFilters,
    *,
    order_column: str,
    descending: bool,
    after: SeekKey | None,
    backwards: bool,
    limit: int,
) -> tuple[Keyset, plan.Plan]:
    """The page's keyset, and what calsync.store.queries.event_plan decides to read for it."""
    keyset = Keyset(
        getattr(CalendarEvent, order_column),
        CalendarEvent.id,
        descending=descending,
        after=after,
        backwards=backwards,
        limit=limit,
    )
    return keyset, plan.plan_page(filters, _seek(keyset))


def _seek(keyset: Keyset) -> plan.Seek:
    return plan.Seek(keyset.sort_column.key, keyset.after, keyset.walk_descending)


async def _joined(
    first: Callable[[], Awaitable[list[Row[*TupleAny]]]],
    then: Callable[[], Awaitable[list[Row[*TupleAny]]]],
    keyset: Keyset,
) -> list[Row[*TupleAny]]:
    """The walk over two parts of a split query, in walk order: the second part is read only if the page (or
    whether another follows) reaches past the first."""
    rows = await first()
    if len(rows) <= keyset.limit:
        rows += await then()
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
        for name, (lower, upper) in (plan.ranges_of(filters) if ranges is None else ranges).items():
            if lower is not None:
                terms.append(column(name) >= lower)
            if upper is not None:
                terms.append(column(name) <= upper)
        if filters.is_deleted is not None:
            terms.append(CalendarEvent.is_deleted.is_(filters.is_deleted))
        if filters.updated_before is not None:
            terms.append(CalendarEvent.updated_at < filters.updated_before)
        return terms

    def statement(self, filters: EventFilters, ranges: Ranges, driving: str | None) -> Select[*TupleAny]:
        return select(*self.columns).where(*self.where(filters, driving, ranges=ranges))

    async def rows(self, page_plan: plan.Plan | plan.Part, keyset: Keyset) -> list[Row[*TupleAny]]:
        """The page's walk (up to limit + 1 rows) by `page_plan`."""
        match page_plan:
            case plan.Nothing():
                return []
            case plan.Walk(filters):
                return await self.walk_rows(filters, keyset)
            case plan.LagClasses(filters):
                return await self.lag_rows(filters, keyset)
            case plan.RunningAtPoint(split, filters):
                return await self.running_rows(split, filters, keyset)
            case plan.ModifiedBefore(split, filters):
                return await self.modified_rows(split, filters, keyset)
            case plan.Joined(first, then):
                return await _joined(lambda: self.rows(first, keyset), lambda: self.rows(then, keyset), keyset)
            case plan.IfFewUpdated(filters, cap, joined, otherwise):
                few = await self.range_size(filters, "updated_at", cap) < cap
                return await self.rows(joined if few else otherwise, keyset)

    async def walk_rows(self, filters: EventFilters, keyset: Keyset) -> list[Row[*TupleAny]]:
        """The page's walk (up to limit + 1 rows) along the ordering's index, or through a filter's index and
        sorted (SQLite: chosen by counting, `_range_sizes`; PostgreSQL: its planner)."""
        session, order_column = self.session, keyset.sort_column.key
        ranges = plan.walk_ranges(filters, _seek(keyset))
        # The filter's own lower bound on the sort column, which makes a seek key behind it redundant (Keyset).
        keyset = replace(keyset, lower_bound=ranges.get(order_column, (None, None))[0])
        driving: str | None = None
        if self.sqlite and plan.counts_ranges(filters, ranges, order_column):
            scope = self.scope(filters)
            sort_cap = plan.SQLITE_SORT_CAP
            driving = plan.smallest(await _range_sizes(session, scope, ranges, sort_cap), sort_cap)
            if driving is None:
                driving = order_column
                walk_end = await _sqlite_walk_end(session, scope, ranges.get(order_column), keyset)
                if walk_end is not None:
                    statement = _until(self.statement(filters, ranges, order_column), keyset, walk_end)
                    rows = await self.fetch(statement, keyset)
                    if len(rows) > keyset.limit:  # else fewer matched before the key than decide the page
                        return rows
                    fallback_cap = plan.SQLITE_FALLBACK_SORT_CAP
                    sizes = await _range_sizes(session, scope, ranges, fallback_cap)
                    driving = plan.smallest(sizes, fallback_cap) or order_column
        unindexed_sort = driving is not None and driving != order_column
        walk = replace(keyset, unindexed_sort=unindexed_sort)
        return await self.fetch(walk.statement(self.statement(filters, ranges, driving)), walk)

    async def running_rows(
        self, split: plan.RunningSplit, filters: EventFilters, keyset: Keyset
    ) -> list[Row[*TupleAny]]:
        """The page's walk over the events running at the split's point: one range of the span index per class,
        each bounded by the class's longest span (`plan.span_class_ranges`). The keys of all of them (few: the
        events on at one time) are merged and sorted, and only the page's rows are read in full."""
        point, start = split.point, CalendarEvent.start_time
        end = self._unindexed_on_sqlite(CalendarEvent.end_time)
        at_point = [start < point, end >= point] if split.start_before_point else [start <= point, end > point]
        sort_column = keyset.sort_column
        branches = []
        for span, ranges in plan.span_class_ranges(split, filters):
            terms = self.where(filters, "start_time", by_project=True, ranges=ranges)
            branches.append(
                replace(keyset, unindexed_sort=self.sqlite).seek(
                    select(CalendarEvent.id, sort_column).where(*terms, *at_point, CalendarEvent.span_class == span)
                )
            )
        return await self._rows_of_merged(union_all(*branches).subquery("running"), keyset)

    async def lag_rows(self, filters: EventFilters, keyset: Keyset) -> list[Row[*TupleAny]]:
        """The page's walk over the events updated at or after `updated_at_gte`, in creation order: one walk of the
        update-lag index per class (`plan.lag_class_ranges`). The index holds updated_at and the other filtered
        columns, so the rows a walk passes are tested on index entries; each stops after limit + 1 matches.
        Their keys are merged and sorted, and only the page's rows are read in full."""
        branches = []
        for lag, ranges in plan.lag_class_ranges(filters, _seek(keyset)):
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
        return await self.fetch(statement, keyset)

    async def fetch(self, statement: Select[*TupleAny], keyset: Keyset) -> list[Row[*TupleAny]]:
        """The rows of one read of the page (`statement` is ordered and limited), in walk order."""
        return list((await self.session.execute(statement)).all())

    async def range_size(self, filters: EventFilters, column: str, cap: int) -> int:
        """How many events of the filters' scope lie in their range on `column`, counted up to `cap`."""
        ranges = {column: plan.ranges_of(filters)[column]}
        return (await _range_sizes(self.session, self.scope(filters), ranges, cap))[column]

    async def modified_rows(
        self, split: plan.ModifiedSplit, filters: EventFilters, keyset: Keyset
    ) -> list[Row[*TupleAny]]:
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


@cache
def _api_columns(dialect: str, include_raw: bool) -> tuple[ColumnElement[Any], ...]:
    """The columns of an API page row: `event_columns` with every JSON column as stored text, the calendar's
    object id, then the bot's `BOT_FIELDS` (NULL where the event has none). Built once per variant (SQLAlchemy
    elements are immutable)."""
    columns = event_columns(dialect, include_raw=include_raw)
    assert len(columns) == EVENT_FIELD_COUNT and columns[0].key == "id"
    if dialect != "sqlite":  # SQLite's are read as stored text already
        for index, column in enumerate(columns):
            if column.key in ("attendees", "organizer") or (column.key == "raw" and include_raw):
                attribute = getattr(CalendarEvent, str(column.key))
                columns[index] = type_coerce(cast(attribute, Text), _StoredJSON()).label(str(column.key))
    bots = _EVENT_BOTS
    calendar = Calendar.object_id.label("calendar_object_id")
    return (*columns, calendar, *(bots.c[index].label(f"bot_{name}") for index, name in enumerate(BOT_FIELDS, 2)))


def _until(statement: Select[*TupleAny], keyset: Keyset, until: SeekKey) -> Select[*TupleAny]:
    """The page's walk (sort column indexed) stopping at `until`, a key in the walk's own direction (inclusive):
    bounded by the index rows up to there."""
    key = tuple_(keyset.sort_column, keyset.id_column)
    bound = tuple_(until.value, until.row_id)
    return keyset.statement(statement.where(key >= bound if keyset.walk_descending else key <= bound))


# The bots of a page's events, as a subquery (planned as a join on their event index) rather than the table
# itself, so that the statement reads "FROM bots" like any other read of them. Built once: a subquery's columns
# are new objects, and building them per request was a measurable share of its CPU.
_EVENT_BOTS = select(Bot.event_id, Bot.id, *(getattr(Bot, name) for name in BOT_FIELDS)).subquery("event_bots")


class _ApiEventReader(_EventReader):
    """Reads the page as `_EventReader` does, each read selecting only the events' ids (walk order, LIMIT) and
    wrapped in one statement that reads those events' columns, their calendars' object ids and their bots: the
    JSON columns are cast to text there (the page's rows only) and passed on unparsed. A row per (event, bot)
    comes back; `fetch` folds them into one row per event."""

    def __init__(self, session: AsyncSession, project_id: int, dialect: str, include_raw: bool) -> None:
        super().__init__(session, project_id, dialect, include_raw)
        self.page_columns = _api_columns(dialect, include_raw)
        self.columns = [CalendarEvent.id.expression]
        self.bots: dict[int, list[tuple[Any, ...]]] = {}

    def page_statement(self, statement: Select[*TupleAny], keyset: Keyset) -> Select[*TupleAny]:
        page = statement.subquery("page")
        bots = _EVENT_BOTS
        sort, row_id = getattr(CalendarEvent, keyset.sort_column.key), CalendarEvent.id
        order = (sort.desc(), row_id.desc()) if keyset.walk_descending else (sort.asc(), row_id.asc())
        return (
            select(*self.page_columns)
            .select_from(page)
            .join(CalendarEvent, CalendarEvent.id == page.c.id)
            .join(Calendar, Calendar.id == CalendarEvent.calendar_id)
            .outerjoin(bots, bots.c.event_id == CalendarEvent.id)
            .order_by(*order, bots.c.created_at, bots.c.id)
        )

    async def fetch(self, statement: Select[*TupleAny], keyset: Keyset) -> list[Row[*TupleAny]]:
        connection = await self.session.connection()
        result = await connection.execute(self.page_statement(statement, keyset))
        rows: list[Row[*TupleAny]] = []
        bots = self.bots
        last_id, first_bot = None, EVENT_FIELD_COUNT + 1
        for row in result:
            event_id = row[0]
            if event_id != last_id:
                rows.append(row)
                last_id = event_id
            if row[first_bot] is not None:
                bots.setdefault(event_id, []).append(tuple(row[first_bot:]))
        return rows


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
    counts again, up to SQLITE_FALLBACK_SORT_CAP (calsync.store.queries.event_plan). On both databases, `ModifiedSplit` counts the events updated
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
    walk = keyset.statement(walk).limit(1).offset(plan.SQLITE_WALK_ROWS - 1)
    row = (await session.execute(walk)).one_or_none()
    return None if row is None else SeekKey(row[0], row[1])


async def calendar_object_ids(session: AsyncSession, calendar_ids: set[int]) -> dict[int, str]:
    if not calendar_ids:
        return {}
    rows = await session.execute(select(Calendar.id, Calendar.object_id).where(Calendar.id.in_(calendar_ids)))
    return {row[0]: row[1] for row in rows}


async def get_event(session: AsyncSession, project_id: int, object_id: str) -> Row[*TupleAny] | None:
    columns = event_columns(session.get_bind().dialect.name)
    stmt = select(*columns).where(CalendarEvent.project_id == project_id, CalendarEvent.object_id == object_id)
    return (await session.execute(stmt)).one_or_none()
