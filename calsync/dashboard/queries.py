"""The reads only the dashboard needs: counts for the overview, calendar search, a calendar's channels, and
merges of existing queries. Everything else comes from calsync.store.queries and calsync.webhooks.queries, so a
page shows exactly what the API would. Every query is scoped by project.

Cost at 10,000 calendars and 1,000,000 events (bench/dashboard_pages.py, docs/benchmarks.md): the overview's
counts read the project's calendar rows once each (no index can answer "grouped by state and platform, with a
sync error" without reading them), which calsync.dashboard.overview_counts replaces by an estimate in large
projects on PostgreSQL; every list is one keyset range of an existing index; deliveries are counted
through the (subscription, status, created_at) index, one range per webhook and status.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Row,
    String,
    and_,
    cast,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.util.typing import TupleAny

from calsync.store.keyset import Keyset, KeysetPage, SeekKey, fetch_keyset_page
from calsync.store.models import (
    Calendar,
    CalendarEvent,
    DeliveryStatus,
    PushChannel,
    WebhookDelivery,
    WebhookSubscription,
)
from calsync.store.queries import calendars as calendar_queries
from calsync.store.queries import events as event_queries
from calsync.webhooks import queries as webhook_queries

CALENDAR_STATES = ("connected", "disconnected")
PLATFORMS = ("google", "microsoft", "caldav", "icloud", "ics")
DELIVERY_STATUSES = tuple(status.value for status in DeliveryStatus)


def _is_dialect(session: AsyncSession, name: str) -> bool:
    return session.get_bind().dialect.name == name


def _constant(value: str) -> ColumnElement[Any]:
    """A string written into the statement rather than bound: a partial index's predicate is proven from
    constants (calsync.store.models.calendar.NEEDS_ATTENTION), never from parameters."""
    return literal_column("'" + value.replace("'", "''") + "'")


def json_present(session: AsyncSession, column: Any) -> ColumnElement[bool]:
    """A JSON column holding something: neither SQL NULL nor a stored JSON `null` (the ORM writes Python None as
    JSON null). On SQLite the stored text is compared as it is; PostgreSQL's jsonb is compared as text."""
    if _is_dialect(session, "sqlite"):
        return type_coerce(column, String) != _constant("null")
    return func.coalesce(cast(column, String), _constant("null")) != _constant("null")


def needs_attention(session: AsyncSession, calendar: Any = Calendar) -> ColumnElement[bool]:
    """A calendar an operator should look at: disconnected, its last sync failed, or its push channel failing
    (`calendar`: the table, or an alias of it). Stated as the partial index `ix_calendars_project_attention` is,
    so a list of them reads only them."""
    return or_(
        calendar.state == _constant("disconnected"),
        json_present(session, calendar.last_sync_error),
        calendar.push_state == _constant("failing"),
    )


# --- overview --------------------------------------------------------------------------------------------------


def three_digits(number: int) -> int:
    """An estimate to three significant digits: more would claim a precision its sample does not have."""
    return round(number, 3 - len(str(number))) if number >= 1000 else number


@dataclass
class CalendarCounts:
    by_platform_state: dict[tuple[str, str], int] = field(default_factory=dict)
    attention: int = 0
    sync_errors: int = 0
    push_failing: int = 0
    push_active: int = 0
    # Estimated from a sample (calsync.dashboard.overview_counts): every number is shown as "about N".
    estimated: bool = False

    def shown(self, number: int) -> str:
        return f"about {three_digits(number):,}" if self.estimated else str(number)

    def count(self, platform: str | None = None, state: str | None = None) -> int:
        return sum(
            n
            for (p, s), n in self.by_platform_state.items()
            if (platform is None or p == platform) and (state is None or s == state)
        )

    @property
    def platforms(self) -> list[str]:
        seen = {p for p, _ in self.by_platform_state}
        return [p for p in PLATFORMS if p in seen] + sorted(seen - set(PLATFORMS))


@dataclass(frozen=True)
class HourBucket:
    start: datetime
    succeeded: int
    failed: int

    @property
    def total(self) -> int:
        return self.succeeded + self.failed


def hour_of(session: AsyncSession, column: Any) -> Any:
    """The UTC hour of a time column as text, "YYYY-MM-DD HH"."""
    if _is_dialect(session, "sqlite"):
        # Stored as "YYYY-MM-DD HH:MM:SS.ffffff" (UTC): the hour is the text's first 13 characters.
        return func.substr(type_coerce(column, String), 1, 13)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24")


def tally(session: AsyncSession, condition: ColumnElement[bool]) -> Any:
    """How many rows of a group meet `condition`. SQLite sums the comparison itself (it is 0 or 1), which costs
    less than a CASE or FILTER per row; PostgreSQL counts with FILTER."""
    if _is_dialect(session, "sqlite"):
        return func.sum(condition)
    return func.count().filter(condition)


async def calendar_overview(
    session: AsyncSession, project_id: int, now: datetime, hours: int = 24
) -> tuple[CalendarCounts, list[HourBucket]]:
    """The overview's numbers, in two passes over the project's calendars (no index answers "by platform and
    state, with a sync error" or "by hour of the last attempt" without reading the rows):

    - calendars by platform and state, and how many need attention, have a failed last sync or a failing or active
      push channel;
    - per hour of the last `hours`, the calendars whose *latest* sync attempt falls in it, split by whether that
      attempt succeeded. calsync keeps each calendar's last attempt and last success, not every sync, so a
      calendar synced many times counts once, at its latest attempt (the page says so).

    Two grouped passes cost less than one grouped by both (SQLite sorts every row to group them: 16 against 25 ms
    at 10,000 calendars)."""
    live = (Calendar.project_id == project_id, Calendar.deleted_at.is_(None))
    rows = await session.execute(
        select(
            Calendar.platform,
            Calendar.state,
            func.count(),
            tally(session, needs_attention(session)),
            tally(session, json_present(session, Calendar.last_sync_error)),
            tally(session, Calendar.push_state == "failing"),
            tally(session, Calendar.push_state == "active"),
        )
        .where(*live)
        .group_by(Calendar.platform, Calendar.state)
    )
    counts = CalendarCounts()
    for platform, state, number, attention, errors, failing, active in rows:
        counts.by_platform_state[(platform, state)] = int(number)
        counts.attention += int(attention or 0)
        counts.sync_errors += int(errors or 0)
        counts.push_failing += int(failing or 0)
        counts.push_active += int(active or 0)

    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=hours)
    attempted = Calendar.last_attempted_sync_at
    hour = hour_of(session, attempted)
    by_hour = {
        str(hour_text): (int(number), int(succeeded or 0))
        for hour_text, number, succeeded in await session.execute(
            select(hour, func.count(), tally(session, Calendar.last_successful_sync_at == attempted))
            .where(*live, attempted >= start, attempted < end)
            .group_by(hour)
        )
    }
    buckets = []
    for index in range(hours):
        hour_start = start + timedelta(hours=index)
        seen, ok = by_hour.get(hour_start.strftime("%Y-%m-%d %H"), (0, 0))
        buckets.append(HourBucket(hour_start, ok, seen - ok))
    return counts, buckets


# Deliveries are counted up to this many per webhook and status: each count is one bounded index range, so a
# webhook that delivered half a million times today costs no more than one that delivered a thousand.
COUNT_CAP = 1000
DAY_STATUSES = (DeliveryStatus.SUCCEEDED.value, DeliveryStatus.FAILED.value)  # counted over the last 24 hours
QUEUED_STATUSES = (DeliveryStatus.PENDING.value, DeliveryStatus.DELIVERING.value)  # counted whatever their age


@dataclass
class WebhookHealth:
    subscription: WebhookSubscription
    counts: dict[str, int]  # DAY_STATUSES over the last 24 hours, QUEUED_STATUSES now; each at most COUNT_CAP

    @property
    def state(self) -> str:
        if not self.subscription.is_active:
            return "inactive"
        return "failing" if self.subscription.failing_since is not None else "healthy"

    @property
    def queued(self) -> int:
        return sum(self.counts[status] for status in QUEUED_STATUSES)


def count_text(count: int) -> str:
    """A count as shown: `1,000+` where counting stopped at the cap."""
    return f"{COUNT_CAP:,}+" if count >= COUNT_CAP else f"{count:,}"


async def webhook_health(session: AsyncSession, project_id: int, now: datetime) -> list[WebhookHealth]:
    """Every webhook of the project (at most MAX_WEBHOOKS_PER_PROJECT) with its deliveries of the last 24 hours
    that succeeded and failed, and those queued now, each counted up to COUNT_CAP: one statement of one bounded
    range of the (subscription, status, created_at, id) index per webhook and status."""
    subscriptions = await all_subscriptions(session, project_id)
    if not subscriptions:
        return []
    since = now - timedelta(hours=24)
    branches = []
    for subscription in subscriptions:
        for status in DAY_STATUSES + QUEUED_STATUSES:
            matching = select(literal(1)).where(
                WebhookDelivery.subscription_id == subscription.id, WebhookDelivery.status == status
            )
            if status in DAY_STATUSES:
                matching = matching.where(WebhookDelivery.created_at >= since)
            # In the index's order: otherwise, where most rows match, PostgreSQL reads the table from its start and
            # stops at the cap, which passes every older delivery first when the matching ones are the newest.
            capped = matching.order_by(WebhookDelivery.created_at.desc()).limit(COUNT_CAP).subquery()
            branches.append(
                select(literal(subscription.id).label("id"), literal(status).label("status"), func.count()).select_from(
                    capped
                )
            )
    counts: dict[int, dict[str, int]] = {s.id: {} for s in subscriptions}
    for subscription_id, status, count in await session.execute(union_all(*branches)):
        counts[int(subscription_id)][str(status)] = int(count)
    return [WebhookHealth(s, counts[s.id]) for s in subscriptions]


# --- calendars -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarSearch:
    state: str | None = None
    platform: str | None = None
    text: str | None = None  # a calendar id, a deduplication key or a metadata value (exact)
    attention: bool = False

    @property
    def is_plain(self) -> bool:
        return not self.text and not self.attention


def _metadata_has_value(session: AsyncSession, value: str) -> ColumnElement[bool]:
    """Some top-level value of the calendar's metadata equals `value` (metadata is a flat string map). The stored
    JSON text is first searched for the value's JSON string (a plain substring test), so the JSON is taken apart
    only for the calendars that may match."""
    stored = (
        type_coerce(Calendar.metadata_, String) if _is_dialect(session, "sqlite") else cast(Calendar.metadata_, String)
    )
    if _is_dialect(session, "sqlite"):
        entries = func.json_each(Calendar.metadata_).table_valued("value", name="meta")
    else:
        entries = func.jsonb_each_text(Calendar.metadata_).table_valued("key", "value", name="meta")
    return and_(
        stored.contains(orjson.dumps(value).decode(), autoescape=True),
        exists(select(literal(1)).select_from(entries).where(entries.c.value == value)),
    )


async def search_calendars(
    session: AsyncSession,
    project_id: int,
    search: CalendarSearch,
    *,
    after: SeekKey | None,
    backwards: bool,
    limit: int,
) -> KeysetPage[Calendar]:
    """A page of the project's calendars, newest first, as `GET /api/v1/calendars` pages them. Without a search
    text or the attention filter this *is* the API's query.

    A search text is first looked up as a calendar id and as a deduplication key (unique indexes); a calendar found
    that way is the whole answer. Otherwise it is a metadata value, and the page is the same keyset walk as the
    API's with that condition (and the attention filter) tested on each row: the project's calendars are read at
    most once, fewer when a page fills up early."""
    filters = calendar_queries.CalendarFilters(state=search.state, platform=search.platform)
    if search.is_plain:
        return await calendar_queries.list_calendars(
            session, project_id, filters, after=after, backwards=backwards, limit=limit
        )
    stmt = select(Calendar).where(Calendar.project_id == project_id, Calendar.deleted_at.is_(None))
    if search.state is not None:
        stmt = stmt.where(Calendar.state == search.state)
    if search.platform is not None:
        stmt = stmt.where(Calendar.platform == search.platform)
    if search.attention:
        stmt = stmt.where(needs_attention(session))
    keyset = Keyset(Calendar.created_at, Calendar.id, descending=True, after=after, backwards=backwards, limit=limit)
    if search.text:
        text = search.text
        if after is None:
            identified = list(
                (
                    await session.execute(
                        stmt.where(or_(Calendar.object_id == text, Calendar.deduplication_key == text))
                        .order_by(Calendar.created_at.desc(), Calendar.id.desc())
                        .limit(limit)
                    )
                )
                .scalars()
                .all()
            )
            if identified:
                return KeysetPage(identified, next_key=None, previous_key=None)
        stmt = stmt.where(_metadata_has_value(session, text))
    return await fetch_keyset_page(session, stmt, keyset)


async def push_channels(session: AsyncSession, calendar_id: int) -> list[PushChannel]:
    stmt = (
        select(PushChannel)
        .where(PushChannel.calendar_id == calendar_id)
        .order_by(PushChannel.created_at.desc(), PushChannel.id.desc())
    )
    return list((await session.execute(stmt)).scalars().all())


async def upcoming_events(
    session: AsyncSession,
    project_id: int,
    calendar_id: int,
    now: datetime,
    days: int,
    *,
    after: SeekKey | None,
    backwards: bool,
    limit: int,
) -> KeysetPage[Row[*TupleAny]]:
    """The calendar's events on now or in the next `days`, in start order: the API's query
    (`calendar_id & end_time_gte=now & start_time_lte=now+days & is_deleted=false, ordering=start_time`)."""
    filters = event_queries.EventFilters(
        calendar_ids=[calendar_id], end_time_gte=now, start_time_lte=now + timedelta(days=days), is_deleted=False
    )
    return await event_queries.list_events(
        session,
        project_id,
        filters,
        order_column="start_time",
        descending=False,
        after=after,
        backwards=backwards,
        limit=limit,
        include_raw=False,
    )


async def recent_changes(session: AsyncSession, project_id: int, calendar_id: int, limit: int) -> list[Row[*TupleAny]]:
    """The calendar's events most recently written by a sync (created, changed or deleted), newest first: each
    one's `updated_at` is the stamp of the sync that wrote it. The API's `calendar_id, ordering=-updated_at`."""
    page = await event_queries.list_events(
        session,
        project_id,
        event_queries.EventFilters(calendar_ids=[calendar_id]),
        order_column="updated_at",
        descending=True,
        after=None,
        backwards=False,
        limit=limit,
        include_raw=False,
    )
    return page.rows


async def event_with_calendar(
    session: AsyncSession, project_id: int, object_id: str
) -> tuple[CalendarEvent, Calendar] | None:
    """One event (all columns, JSON decoded) and its calendar, within the project."""
    row = (
        await session.execute(
            select(CalendarEvent, Calendar)
            .join(Calendar, Calendar.id == CalendarEvent.calendar_id)
            .where(
                CalendarEvent.project_id == project_id,
                CalendarEvent.object_id == object_id,
                Calendar.deleted_at.is_(None),
            )
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


# --- webhooks --------------------------------------------------------------------------------------------------


async def recent_deliveries(
    session: AsyncSession,
    subscriptions: Sequence[WebhookSubscription],
    filters: webhook_queries.DeliveryFilters,
    limit: int,
) -> list[tuple[WebhookDelivery, WebhookSubscription]]:
    """The newest deliveries over several webhooks: each webhook's delivery log (the API's query, one index
    range) cut to `limit`, merged. A project has at most MAX_WEBHOOKS_PER_PROJECT webhooks."""
    merged: list[tuple[WebhookDelivery, WebhookSubscription]] = []
    for subscription in subscriptions:
        page = await webhook_queries.list_deliveries(
            session, subscription.id, filters, after=None, backwards=False, limit=limit
        )
        merged.extend((delivery, subscription) for delivery in page.rows)
    merged.sort(key=lambda pair: (pair[0].created_at, pair[0].id), reverse=True)
    return merged[:limit]


async def all_subscriptions(session: AsyncSession, project_id: int) -> list[WebhookSubscription]:
    page = await webhook_queries.list_subscriptions(
        session, project_id, after=None, backwards=False, limit=webhook_queries.MAX_WEBHOOKS_PER_PROJECT
    )
    return page.rows


def delivery_changes(data: dict[str, Any] | None) -> str:
    """A one-line summary of an events_update delivery's `changes` (or a state change)."""
    if not isinstance(data, dict):
        return ""
    changes = data.get("changes")
    if isinstance(changes, dict):
        parts = []
        for kind in ("created", "updated", "deleted"):
            entry = changes.get(kind)
            count = entry.get("count") if isinstance(entry, dict) else None
            if isinstance(count, int) and count:
                parts.append(f"{count} {kind}")
        return ", ".join(parts) or "no changes"
    if "previous_state" in data:
        return f"{data.get('previous_state') or '?'} → {data.get('state') or '?'}"
    return ""
