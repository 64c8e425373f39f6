"""`/api/v1/calendar_events`: the mirrored events, with every filter and ordering of the anchor."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.api import event_wire_sql
from calsync.api.dependencies import Authenticated, Context, ReadSession
from calsync.api.routes.common import AttendeeRoute, datetime_query
from calsync.api.schemas import CalendarEventOut, PaginatedCalendarEventList
from calsync.api.serializers import event_json
from calsync.bots import queries as bot_queries
from calsync.bots.payloads import bot_json
from calsync.json_response import JSONResponse
from calsync.store import change_horizon
from calsync.store.keyset import Keyset
from calsync.store.models import Bot, CalendarEvent
from calsync.store.queries import api_page
from calsync.store.queries import calendars as calendar_queries
from calsync.store.queries import events as event_queries
from calsync.web.datetimes import (
    ASCII_SPACE,
    RANGE_TEXT,
    OutOfRange,
    parse_query_datetime,
)
from calsync.web.errors import bad_query, not_found
from calsync.web.pagination import decode_cursor, page_envelope, seek_key

router = APIRouter(prefix="/api/v1", tags=["Calendars"], route_class=AttendeeRoute)

EVENT_PAGE_SIZE = 100
ORDERINGS = (
    "-updated_at",
    "updated_at",
    "start_time",
    "-start_time",
    "end_time",
    "-end_time",
    "created_at",
    "-created_at",
)
_EXAMPLES = {
    "updated_at_gte": "2025-01-13T10:30:00Z",
    "start_time_gte": "2025-01-13T10:30:00Z",
    "start_time_lte": "2025-01-13T18:00:00Z",
    "end_time_gte": "2025-01-13T10:30:00Z",
    "end_time_lte": "2025-01-13T18:00:00Z",
}


def _datetime_param(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = parse_query_datetime(value)
    except OutOfRange:
        raise bad_query(
            f"Invalid {name}: out of range. Use a datetime between {RANGE_TEXT} (after its UTC offset).",
            code="invalid_datetime",
            field=name,
        ) from None
    if parsed is None:
        raise bad_query(
            f"Invalid {name} format. Use ISO 8601 format (e.g., {_EXAMPLES[name]})", code="invalid_datetime", field=name
        )
    return parsed


_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")
# What `_bool_param` takes, for the OpenAPI document: any case, surrounding ASCII whitespace ignored.
_BOOL_PATTERN = "^[ \\t\\n\\r\\f\\v]*(?:{})[ \\t\\n\\r\\f\\v]*$".format(
    "|".join("".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in word) for word in (*_TRUE, *_FALSE))
)


def _bool_param(name: str, value: str | None) -> bool | None:
    if value is None:
        return None
    lowered = value.strip(ASCII_SPACE).lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise bad_query(f"Invalid {name}. Use true or false.", field=name)


def _bool_query(description: str) -> Any:
    return Query(description=description, json_schema_extra={"pattern": _BOOL_PATTERN})


@router.get(
    "/calendar_events",
    operation_id="List Calendar Events",
    summary="List calendar events",
    description="Events of every calendar in the project, 100 per page. Polling tip: remember the newest "
    "`updated_at` you have seen and ask for `updated_at_gte` of it; calsync lists by `updated_at` only the rows "
    "below which every write has ended, so this never misses a change (a few rows may repeat).",
    response_model=PaginatedCalendarEventList,
    responses={400: {"description": "Invalid parameter"}, 404: {"description": "Invalid cursor"}},
)
async def list_calendar_events(
    request: Request,
    caller: Authenticated,
    context: Context,
    calendar_id: Annotated[str | None, Query(description="A `cal_…` id; unknown ids give an empty list")] = None,
    calendar_deduplication_key: Annotated[str | None, Query()] = None,
    updated_at_gte: Annotated[str | None, datetime_query("ISO 8601 datetime; empty: see updated_after", True)] = None,
    updated_after: Annotated[
        str | None, datetime_query("Alias of updated_at_gte, used when that is absent or empty", True, deprecated=True)
    ] = None,
    event_id: Annotated[str | None, Query(description="An `evt_…` id")] = None,
    start_time_gte: Annotated[str | None, datetime_query("ISO 8601 datetime")] = None,
    start_time_lte: Annotated[str | None, datetime_query("calsync addition")] = None,
    end_time_gte: Annotated[str | None, datetime_query("calsync addition")] = None,
    end_time_lte: Annotated[str | None, datetime_query("ISO 8601 datetime")] = None,
    is_deleted: Annotated[str | None, _bool_query("calsync addition: true or false")] = None,
    include_raw: Annotated[str | None, _bool_query("calsync addition: false leaves `raw` out")] = None,
    ordering: Annotated[
        str | None,
        # Empty means the default, as the anchor; anything else is refused with the anchor's message (so the
        # values are listed here rather than made a Literal, whose refusal FastAPI would word).
        Query(description=", ".join(ORDERINGS), json_schema_extra={"enum": [*ORDERINGS, ""]}),
    ] = None,
    cursor: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    chosen = ordering or "-updated_at"
    if chosen not in ORDERINGS:
        raise bad_query(
            f"Invalid ordering. Allowed values: {', '.join(ORDERINGS)}", code="invalid_ordering", field="ordering"
        )
    updated_value = updated_at_gte if updated_at_gte else (updated_after or None)
    filters = event_queries.EventFilters(
        event_object_id=event_id,
        updated_at_gte=_datetime_param("updated_at_gte", updated_value),
        start_time_gte=_datetime_param("start_time_gte", start_time_gte),
        start_time_lte=_datetime_param("start_time_lte", start_time_lte),
        end_time_gte=_datetime_param("end_time_gte", end_time_gte),
        end_time_lte=_datetime_param("end_time_lte", end_time_lte),
        is_deleted=_bool_param("is_deleted", is_deleted),
    )
    with_raw = _bool_param("include_raw", include_raw) is not False
    parsed = decode_cursor(cursor, chosen)
    named = (
        api_page.CalendarNamed(calendar_id, calendar_deduplication_key)
        if calendar_id is not None or calendar_deduplication_key is not None
        else None
    )
    keyset = Keyset(
        getattr(CalendarEvent, chosen.lstrip("-")),
        CalendarEvent.id,
        descending=chosen.startswith("-"),
        after=seek_key(parsed),
        backwards=parsed.backwards if parsed else False,
        limit=EVENT_PAGE_SIZE,
    )
    # A page by stamp is read below the change horizon, so a client that polls from the newest stamp it saw never
    # passes a write still committing with an older one (calsync.store.change_horizon; SQLite's writers stamp in
    # commit order).
    by_stamp = not context.db.is_sqlite and (filters.updated_at_gte is not None or chosen.endswith("updated_at"))
    walk = None if context.db.is_sqlite else api_page.plain_walk(filters, named, keyset)
    if walk is not None:
        projection = (event_wire_sql.event_head(with_raw), event_wire_sql.event_tail())
        async with context.db.driver_read() as connection:
            if by_stamp:
                horizon = await change_horizon.read_on_driver(connection)
                walk = replace(walk, updated_before=horizon.stamp)
            read = await api_page.read_page(connection, caller.project_id, walk, named, keyset, projection)
        spliced = [_spliced(row, read.bots.get(row[0])) for row in read.page.rows]
        return JSONResponse(page_envelope(request, read.page, chosen, spliced))
    async with context.db.read() as session:
        if by_stamp:
            filters = replace(filters, updated_before=(await change_horizon.read(session)).stamp)
        found = await _read_page(session, caller.project_id, filters, named, keyset, with_raw)
    page, bots = found.page, found.bots
    calendar_at = event_queries.EVENT_FIELD_COUNT
    results = [event_json(row, row[calendar_at], _bot_rows_json(bots.get(row[0]))) for row in page.rows]
    return JSONResponse(page_envelope(request, page, chosen, results))


@router.get(
    "/calendar_events/{object_id}",
    operation_id="Get Calendar Event",
    summary="Get one calendar event (calsync addition)",
    response_model=CalendarEventOut,
    responses={404: {"description": "Calendar event not found"}},
)
async def get_calendar_event(object_id: str, caller: Authenticated, session: ReadSession) -> JSONResponse:
    event = await event_queries.get_event(session, caller.project_id, object_id)
    if event is None:
        raise not_found("Calendar event not found")
    object_ids = await event_queries.calendar_object_ids(session, {event.calendar_id})
    bots = await bot_queries.bots_of_events(session, [event.id])
    return JSONResponse(event_json(event, object_ids[event.calendar_id], _bots_json(bots.get(event.id))))


async def _read_page(
    session: AsyncSession,
    project_id: int,
    filters: event_queries.EventFilters,
    named: api_page.CalendarNamed | None,
    keyset: Keyset,
    with_raw: bool,
) -> event_queries.ApiEventPage:
    """A page of any plan, through calsync.store.queries.events (the calendar resolved by its own statement)."""
    if named is not None:
        ids = await calendar_queries.find_calendar_ids(
            session, project_id, object_id=named.object_id, deduplication_key=named.deduplication_key
        )
        filters = event_queries.EventFilters(**{**filters.__dict__, "calendar_ids": ids})
    return await event_queries.list_api_events(
        session,
        project_id,
        filters,
        order_column=keyset.sort_column.key,
        descending=keyset.descending,
        after=keyset.after,
        backwards=keyset.backwards,
        limit=keyset.limit,
        include_raw=with_raw,
    )


def _spliced(row: tuple[Any, ...], bots: list[tuple[Any, ...]] | None) -> orjson.Fragment:
    """An event's JSON built by PostgreSQL (calsync.api.event_wire_sql), with its bots' JSON put in."""
    _, _, head, tail = row
    return orjson.Fragment(head + (orjson.dumps(_bot_rows_json(bots)).decode() if bots else "[]") + tail)


def _bots_json(bots: list[Bot] | None) -> list[dict[str, Any]]:
    return [bot_json(bot) for bot in bots or ()]


def _bot_rows_json(rows: list[tuple[Any, ...]] | None) -> list[dict[str, Any]]:
    """`bot_json` of bots read with a page (calsync.store.queries.events.BOT_FIELDS), as transient instances."""
    fields = event_queries.BOT_FIELDS
    return [bot_json(Bot(**dict(zip(fields, row, strict=True)))) for row in rows or ()]
