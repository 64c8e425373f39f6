"""Google Calendar API v3 routes: calendarList, calendars, events.list/get/instances (events.watch and channels.stop
are in google_channels.py).

Every router of the Google API uses fields.PartialResponseRoute, so `fields` narrows any answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request

from calsync_emulator import recurrence, render_google, tokens
from calsync_emulator.errors import (
    ApiError,
    google_bad_request,
    google_error,
    google_full_sync_required,
    google_not_found,
    google_unauthorized,
)
from calsync_emulator.fields import PartialResponseRoute
from calsync_emulator.gate import admit, emulator_state
from calsync_emulator.jsonio import JSONResponse
from calsync_emulator.model import Account, Calendar, Event, EventKind, Instance, Platform
from calsync_emulator.state import EmulatorState
from calsync_emulator.timeutil import find_zone, fmt_google_timestamp, parse_rfc3339, timestamp
from calsync_emulator.views import Row, find_row, google_changes, row_start, window_rows

router = APIRouter(route_class=PartialResponseRoute)

NOT_WITH_SYNC_TOKEN = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)


async def google_account(request: Request, state: EmulatorState = Depends(emulator_state)) -> Account:
    account, problem = state.grants.resolve_access_token(request.headers.get("authorization"))
    await admit(request, state, "google", account.id if account else None)
    if problem is not None or account is None or account.platform is not Platform.GOOGLE:
        raise ApiError(google_unauthorized())
    if not account.calendar_access:
        raise ApiError(
            google_error(
                403,
                "insufficientPermissions",
                "Insufficient Permission",
                top_message="Request had insufficient authentication scopes.",
            )
        )
    return account


def google_calendar(state: EmulatorState, account: Account, calendar_id: str, *, events: bool = False) -> Calendar:
    if calendar_id == "primary":
        calendar_id = account.primary_calendar_id
    if calendar_id not in account.calendars:
        raise ApiError(google_not_found())
    return state.directory.calendar(calendar_id, events=events)


def _bool(request: Request, name: str) -> bool | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    if value.lower() not in ("true", "false"):
        raise ApiError(google_bad_request(f"Invalid boolean value: '{value}'.", name))
    return value.lower() == "true"


def _int(request: Request, name: str, default: int, maximum: int) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ApiError(
            google_bad_request(
                f"Invalid value '{value}'. Values must match the following regular expression: '[0-9]+'", name
            )
        ) from None
    if number < 1:
        raise ApiError(google_bad_request("Invalid value", name))
    return min(number, maximum)


def _time_param(request: Request, name: str) -> datetime | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        raise ApiError(google_bad_request("Bad Request", name)) from None


def _fingerprint(request: Request) -> str:
    return tokens.fingerprint([(k, v) for k, v in request.query_params.multi_items() if k != "pageToken"])


@router.get("/users/me/calendarList")
async def calendar_list(
    request: Request, account: Account = Depends(google_account), state: EmulatorState = Depends(emulator_state)
) -> JSONResponse:
    if "syncToken" in request.query_params and "minAccessRole" in request.query_params:
        raise ApiError(google_bad_request("minAccessRole is not allowed together with syncToken", "minAccessRole"))
    page_size = _int(request, "maxResults", 100, 250)
    offset = 0
    if "pageToken" in request.query_params:
        payload = tokens.decode(request.query_params["pageToken"], "gcl")
        if payload is None:
            raise ApiError(google_bad_request("Invalid page token value.", "pageToken"))
        offset = int(payload["o"])
    cals = list(account.calendars.values())
    page = cals[offset : offset + page_size]
    body: dict[str, Any] = {
        "kind": "calendar#calendarList",
        "etag": render_google.etag(account.id, len(cals)),
        "items": [render_google.calendar_list_entry(c) for c in page],
    }
    if offset + page_size < len(cals):
        body["nextPageToken"] = tokens.encode({"k": "gcl", "o": offset + page_size})
    else:
        body["nextSyncToken"] = tokens.encode({"k": "gcls", "a": account.id})
    return JSONResponse(body)


@router.get("/users/me/calendarList/{calendar_id}")
async def calendar_list_get(
    calendar_id: str, account: Account = Depends(google_account), state: EmulatorState = Depends(emulator_state)
) -> JSONResponse:
    return JSONResponse(render_google.calendar_list_entry(google_calendar(state, account, calendar_id)))


@router.get("/calendars/{calendar_id}")
async def calendar_get(
    calendar_id: str, account: Account = Depends(google_account), state: EmulatorState = Depends(emulator_state)
) -> JSONResponse:
    return JSONResponse(render_google.calendar_resource(google_calendar(state, account, calendar_id)))


def _matches_filters(request: Request, row: Row, updated_min: datetime | None) -> bool:
    source = row.master if isinstance(row, Instance) else row
    if updated_min is not None and source.updated < updated_min:
        return False
    ical = request.query_params.get("iCalUID")
    if ical is not None and source.uid != ical:
        return False
    if request.query_params.getlist("privateExtendedProperty") or request.query_params.getlist(
        "sharedExtendedProperty"
    ):
        return False  # emulated events carry no extended properties
    types = request.query_params.getlist("eventTypes")
    if types and "default" not in types:
        return False
    q = request.query_params.get("q")
    if q:
        haystack = " ".join([source.summary, source.description, source.location, *(a.email for a in source.attendees)])
        return q.lower() in haystack.lower()
    return True


@router.get("/calendars/{calendar_id}/events")
async def events_list(
    request: Request,
    calendar_id: str,
    account: Account = Depends(google_account),
    state: EmulatorState = Depends(emulator_state),
) -> JSONResponse:
    cal = google_calendar(state, account, calendar_id, events="syncToken" not in request.query_params)
    params = request.query_params
    expand = bool(_bool(request, "singleEvents"))
    show_deleted = _bool(request, "showDeleted")
    page_size = _int(
        request, "maxResults", state.config.google_default_max_results, state.config.google_max_max_results
    )
    out_tz = params.get("timeZone")
    if out_tz is not None and find_zone(out_tz) is None:
        raise ApiError(google_bad_request("Invalid time zone definition for start time.", "timeZone"))
    order_by = params.get("orderBy")
    if order_by not in (None, "startTime", "updated"):
        raise ApiError(google_bad_request(f"Invalid value for: {order_by} is not a valid value", "orderBy"))
    if order_by == "startTime" and not expand:
        raise ApiError(
            google_bad_request("The requested ordering is not available for the particular query.", "orderBy")
        )
    sync_token = params.get("syncToken")
    if sync_token is not None:
        for name in NOT_WITH_SYNC_TOKEN:
            if name in params:
                raise ApiError(
                    google_bad_request(f"The {name} parameter is not allowed together with syncToken.", name)
                )
        if show_deleted is False:
            raise ApiError(
                google_bad_request("showDeleted=false is not allowed together with syncToken.", "showDeleted")
            )

    # paging state: offset, and the change-log position the whole listing is a snapshot of
    offset, snapshot, empty_done = 0, cal.seq, False
    page_token = params.get("pageToken")
    if page_token is not None:
        payload = tokens.decode(page_token, "gp")
        if payload is None or payload.get("f") != _fingerprint(request) or payload.get("c") != cal.id:
            raise ApiError(google_bad_request("Invalid page token value.", "pageToken"))
        offset, snapshot, empty_done = int(payload["o"]), int(payload["t"]), True

    lo_hi: tuple[float | None, float | None]
    if sync_token is not None:
        sync = tokens.decode(sync_token, "gs")
        if sync is None or not state.sync_states.valid(cal, sync):
            raise ApiError(google_full_sync_required())
        lo_hi = (sync.get("lo"), sync.get("hi"))
        rows = google_changes(
            cal, int(sync["s"]), snapshot, expand=expand, lo=lo_hi[0], hi=lo_hi[1], horizon=state.horizon()
        )
    else:
        time_min, time_max = _time_param(request, "timeMin"), _time_param(request, "timeMax")
        if time_min is not None and time_max is not None and time_min >= time_max:
            raise ApiError(
                google_error(
                    400,
                    "timeRangeEmpty",
                    "The specified time range is empty.",
                    domain="calendar",
                    location="timeMax",
                    location_type="parameter",
                )
            )
        lo_hi = (time_min.timestamp() if time_min else None, time_max.timestamp() if time_max else None)
        updated_min = _time_param(request, "updatedMin")
        rows = window_rows(
            cal,
            lo_hi[0],
            lo_hi[1],
            state.horizon(),
            expand=expand,
            include_deleted=bool(show_deleted) or updated_min is not None,
        )
        rows = [r for r in rows if _matches_filters(request, r, updated_min)]
        if order_by == "updated":
            rows.sort(key=lambda r: (r.master if isinstance(r, Instance) else r).updated)

    body = _events_envelope(state, cal, out_tz, snapshot, offset)
    if state.config.google_empty_page_first and not empty_done:
        # the documented quirk: a page may hold zero items and still not be the last
        body["nextPageToken"] = _page_token(request, cal, 0, snapshot)
        return JSONResponse(body)
    page = rows[offset : offset + page_size]
    body["items"] = _rendered(request, account, cal, page, out_tz)
    if offset + page_size < len(rows):
        body["nextPageToken"] = _page_token(request, cal, offset + page_size, snapshot)
    else:
        body["nextSyncToken"] = tokens.encode(
            {"k": "gs", "s": snapshot, "lo": lo_hi[0], "hi": lo_hi[1], **state.sync_states.stamp(cal)}
        )
    return JSONResponse(body)


def _events_envelope(
    state: EmulatorState, cal: Calendar, out_tz: str | None, snapshot: int, offset: int
) -> dict[str, Any]:
    return {
        "kind": "calendar#events",
        "etag": render_google.etag(cal.id, snapshot, offset),
        "summary": cal.name,
        "description": "",
        "updated": fmt_google_timestamp(state.now()),
        "timeZone": out_tz or cal.time_zone,
        "accessRole": "owner",
        "defaultReminders": [{"method": "popup", "minutes": 10}],
        "items": [],
    }


def _rendered(
    request: Request, account: Account, cal: Calendar, rows: list[Row], out_tz: str | None
) -> list[dict[str, Any]]:
    max_attendees = request.query_params.get("maxAttendees")
    items = [render_google.event_resource(account, row, out_tz, cal) for row in rows]
    if max_attendees is not None and max_attendees.isdigit():
        for item in items:
            if len(item.get("attendees", [])) > int(max_attendees):
                item["attendees"] = item["attendees"][: int(max_attendees)]
                item["attendeesOmitted"] = True
    return items


def _page_token(request: Request, cal: Calendar, offset: int, snapshot: int) -> str:
    return tokens.encode({"k": "gp", "c": cal.id, "f": _fingerprint(request), "o": offset, "t": snapshot})


@router.get("/calendars/{calendar_id}/events/{event_id}")
async def events_get(
    request: Request,
    calendar_id: str,
    event_id: str,
    account: Account = Depends(google_account),
    state: EmulatorState = Depends(emulator_state),
) -> JSONResponse:
    cal = google_calendar(state, account, calendar_id, events=True)
    row = find_row(cal, event_id, state.horizon())
    if row is None:
        raise ApiError(google_not_found())
    return JSONResponse(render_google.event_resource(account, row, request.query_params.get("timeZone"), cal))


@router.get("/calendars/{calendar_id}/events/{event_id}/instances")
async def events_instances(
    request: Request,
    calendar_id: str,
    event_id: str,
    account: Account = Depends(google_account),
    state: EmulatorState = Depends(emulator_state),
) -> JSONResponse:
    """The instances of a series in start order: generated ones plus its exceptions, in their current slot."""
    cal = google_calendar(state, account, calendar_id, events=True)
    params = request.query_params
    out_tz = params.get("timeZone")
    if out_tz is not None and find_zone(out_tz) is None:
        raise ApiError(google_bad_request("Invalid time zone definition for start time.", "timeZone"))
    show_deleted = bool(_bool(request, "showDeleted"))
    page_size = _int(
        request, "maxResults", state.config.google_default_max_results, state.config.google_max_max_results
    )
    time_min, time_max = _time_param(request, "timeMin"), _time_param(request, "timeMax")
    lo = time_min.timestamp() if time_min else None
    hi = time_max.timestamp() if time_max else None
    event = cal.events.get(event_id)
    if event is None or (event.deleted and event.kind is not EventKind.MASTER) or event.kind is EventKind.GONE:
        raise ApiError(google_not_found())
    rows: list[Row]
    if event.kind is EventKind.MASTER:
        rows = _series_rows(state, cal, event, lo, hi, show_deleted)
    else:
        # a one-off event is its own only instance [unverified: Google's answer here is undocumented]
        rows = [event] if _overlaps(cal, event, lo, hi) else []
    original = params.get("originalStart")
    if original is not None:
        rows = [r for r in rows if _original_start_matches(cal, r, original)]

    offset, snapshot = 0, cal.seq
    page_token = params.get("pageToken")
    if page_token is not None:
        payload = tokens.decode(page_token, "gp")
        if payload is None or payload.get("f") != _fingerprint(request) or payload.get("c") != cal.id:
            raise ApiError(google_bad_request("Invalid page token value.", "pageToken"))
        offset, snapshot = int(payload["o"]), int(payload["t"])
    body = _events_envelope(state, cal, out_tz, snapshot, offset)
    body["items"] = _rendered(request, account, cal, rows[offset : offset + page_size], out_tz)
    if offset + page_size < len(rows):
        body["nextPageToken"] = _page_token(request, cal, offset + page_size, snapshot)
    return JSONResponse(body)


def _series_rows(
    state: EmulatorState, cal: Calendar, master: Event, lo: float | None, hi: float | None, show_deleted: bool
) -> list[Row]:
    rows: list[Row] = []
    if not master.deleted:
        rows.extend(i for i in recurrence.instances_between(master, lo, hi, state.horizon()) if i.id not in cal.events)
    for other in cal.events.values():
        if other.kind is not EventKind.OVERRIDE or other.master_id != master.id:
            continue
        if other.deleted:
            # a cancelled instance: a stub in its original slot, only with showDeleted
            if show_deleted and other.original_start is not None and _overlaps(cal, other, lo, hi, original=True):
                rows.append(other)
        elif not master.deleted and _overlaps(cal, other, lo, hi):
            rows.append(other)
    rows.sort(key=lambda r: (row_start(cal, r), r.id))
    return rows


def _overlaps(cal: Calendar, event: Event, lo: float | None, hi: float | None, *, original: bool = False) -> bool:
    if original:
        # a cancelled instance keeps only its original start: it counts where that start lies
        assert event.original_start is not None
        at = timestamp(event.original_start, cal.tz)
        return (hi is None or at < hi) and (lo is None or at >= lo)
    start, end = timestamp(event.start, cal.tz), timestamp(event.end, cal.tz)
    return (hi is None or start < hi) and (lo is None or end > lo)


def _original_start_matches(cal: Calendar, row: Row, value: str) -> bool:
    if isinstance(row, Instance):
        original = row.start
    else:
        original = row.original_start if row.original_start is not None else row.start
    try:
        wanted = parse_rfc3339(value).timestamp() if len(value.strip()) > 10 else None
    except ValueError:
        raise ApiError(google_bad_request("Invalid value", "originalStart")) from None
    if wanted is None:  # an all-day series is addressed by its date
        return not isinstance(original, datetime) and original.isoformat() == value.strip()
    return isinstance(original, datetime) and original.timestamp() == wanted
