"""Google `freebusy.query` (`POST /freeBusy`): the merged busy periods of the caller's calendars.

Busy is every live, opaque (not `transparency: transparent`) event or instance overlapping the window,
clipped to it; overlapping and touching periods are merged. A calendar the caller does not own gets
`errors: [{domain: global, reason: notFound}]` and no busy periods, as the API reports it per calendar.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request

from calsync_emulator.errors import ApiError, google_bad_request, google_error
from calsync_emulator.fields import PartialResponseRoute
from calsync_emulator.gate import emulator_state
from calsync_emulator.google_api import google_account
from calsync_emulator.jsonio import JSONResponse
from calsync_emulator.model import Account, Calendar, Instance
from calsync_emulator.state import EmulatorState
from calsync_emulator.timeutil import find_zone, fmt_google_datetime, fmt_google_timestamp, parse_rfc3339, timestamp
from calsync_emulator.views import window_rows

router = APIRouter(route_class=PartialResponseRoute)

MAX_CALENDARS = 50  # the documented maximum of calendarExpansionMax


def _time(body: dict[str, Any], name: str) -> datetime:
    value = body.get(name)
    if value is None:
        raise ApiError(google_error(400, "required", "Required", location=name))
    try:
        return parse_rfc3339(str(value))
    except ValueError:
        raise ApiError(google_bad_request("Bad Request", name)) from None


def busy_periods(cal: Calendar, lo: float, hi: float, horizon: datetime) -> list[tuple[float, float]]:
    spans: list[tuple[float, float]] = []
    for row in window_rows(cal, lo, hi, horizon, expand=True):
        source = row.master if isinstance(row, Instance) else row
        if source.show_as == "free":
            continue  # transparent: does not block time
        start, end = max(timestamp(row.start, cal.tz), lo), min(timestamp(row.end, cal.tz), hi)
        if end > start:
            spans.append((start, end))
    merged: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


@router.post("/freeBusy")
async def freebusy_query(
    request: Request, account: Account = Depends(google_account), state: EmulatorState = Depends(emulator_state)
) -> JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(google_bad_request("Parse Error")) from None
    if not isinstance(body, dict):
        raise ApiError(google_bad_request("Parse Error"))
    time_min, time_max = _time(body, "timeMin"), _time(body, "timeMax")
    if time_min >= time_max:
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
    zone_name = str(body.get("timeZone") or "UTC")
    out_tz = find_zone(zone_name)
    if out_tz is None:
        raise ApiError(google_bad_request("Invalid time zone definition.", "timeZone"))
    limit = min(int(body.get("calendarExpansionMax") or MAX_CALENDARS), MAX_CALENDARS)
    items = body.get("items") or []
    if not isinstance(items, list):
        raise ApiError(google_bad_request("Invalid value", "items"))
    calendars: dict[str, Any] = {}
    for position, item in enumerate(items):
        requested = str(item.get("id", "")) if isinstance(item, dict) else ""
        cal_id = account.primary_calendar_id if requested == "primary" else requested
        if position >= limit:
            calendars[requested] = {"errors": [{"domain": "global", "reason": "tooManyCalendarsRequested"}], "busy": []}
        elif cal_id not in account.calendars:
            calendars[requested] = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
        else:
            cal = state.directory.calendar(cal_id)
            calendars[requested] = {
                "busy": [
                    {
                        "start": fmt_google_datetime(datetime.fromtimestamp(start, UTC), out_tz),
                        "end": fmt_google_datetime(datetime.fromtimestamp(end, UTC), out_tz),
                    }
                    for start, end in busy_periods(cal, time_min.timestamp(), time_max.timestamp(), state.horizon())
                ]
            }
    return JSONResponse(
        {
            "kind": "calendar#freeBusy",
            "timeMin": fmt_google_timestamp(time_min),
            "timeMax": fmt_google_timestamp(time_max),
            "calendars": calendars,
        }
    )
