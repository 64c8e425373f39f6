"""Google's per-user read-only resources: `colors.get` and `settings.list` / `settings.get`.

The colour palettes are Google's published ones (calendarList entries use calendar colour 14). The
settings are the documented ids with the defaults of a new account; `timezone` is the account's zone.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from calsync_emulator import render_google, tokens
from calsync_emulator.errors import ApiError, google_bad_request, google_not_found
from calsync_emulator.fields import PartialResponseRoute
from calsync_emulator.google_api import google_account
from calsync_emulator.jsonio import JSONResponse
from calsync_emulator.model import Account

router = APIRouter(route_class=PartialResponseRoute)

_CALENDAR_COLORS = [
    "#ac725e",
    "#d06b64",
    "#f83a22",
    "#fa573c",
    "#ff7537",
    "#ffad46",
    "#42d692",
    "#16a765",
    "#7bd148",
    "#b3dc6c",
    "#fbe983",
    "#fad165",
    "#92e1c0",
    "#9fe1e7",
    "#9fc6e7",
    "#4986e7",
    "#9a9cff",
    "#b99aff",
    "#c2c2c2",
    "#cabdbf",
    "#cca6ac",
    "#f691b2",
    "#cd74e6",
    "#a47ae2",
]
_EVENT_COLORS = [
    "#a4bdfc",
    "#7ae7bf",
    "#dbadff",
    "#ff887c",
    "#fbd75b",
    "#ffb878",
    "#46d6db",
    "#e1e1e1",
    "#5484ed",
    "#51b749",
    "#dc2127",
]
COLORS: dict[str, Any] = {
    "kind": "calendar#colors",
    "updated": "2012-02-14T00:00:00.000Z",
    "calendar": {str(i): {"background": c, "foreground": "#1d1d1d"} for i, c in enumerate(_CALENDAR_COLORS, 1)},
    "event": {str(i): {"background": c, "foreground": "#1d1d1d"} for i, c in enumerate(_EVENT_COLORS, 1)},
}


@router.get("/colors")
async def colors_get(account: Account = Depends(google_account)) -> JSONResponse:
    return JSONResponse(COLORS)


def settings_of(account: Account) -> list[tuple[str, str]]:
    return [
        ("autoAddHangouts", "false"),
        ("dateFieldOrder", "MDY"),
        ("defaultEventLength", "60"),
        ("format24HourTime", "false"),
        ("hideInvitations", "false"),
        ("hideWeekends", "false"),
        ("locale", "en"),
        ("remindOnRespondedEventsOnly", "false"),
        ("showDeclinedEvents", "true"),
        ("timezone", account.time_zone),
        ("useKeyboardShortcuts", "true"),
        ("weekStart", "0"),
    ]


def _setting(name: str, value: str) -> dict[str, str]:
    return {"kind": "calendar#setting", "etag": render_google.etag(name, value), "id": name, "value": value}


@router.get("/users/me/settings")
async def settings_list(request: Request, account: Account = Depends(google_account)) -> JSONResponse:
    params = request.query_params
    size_text = params.get("maxResults", "100")
    if not size_text.isdigit() or int(size_text) < 1:
        raise ApiError(google_bad_request("Invalid value", "maxResults"))
    size = min(int(size_text), 250)
    offset = 0
    if "pageToken" in params:
        payload = tokens.decode(params["pageToken"], "gst")
        if payload is None:
            raise ApiError(google_bad_request("Invalid page token value.", "pageToken"))
        offset = int(payload["o"])
    # a syncToken is accepted and answered with the full list: settings never change in the emulator
    settings = settings_of(account)
    body: dict[str, Any] = {
        "kind": "calendar#settings",
        "etag": render_google.etag(account.id, "settings"),
        "items": [_setting(n, v) for n, v in settings[offset : offset + size]],
    }
    if offset + size < len(settings):
        body["nextPageToken"] = tokens.encode({"k": "gst", "o": offset + size})
    else:
        body["nextSyncToken"] = tokens.encode({"k": "gsts", "a": account.id})
    return JSONResponse(body)


@router.get("/users/me/settings/{setting}")
async def settings_get(setting: str, account: Account = Depends(google_account)) -> JSONResponse:
    for name, value in settings_of(account):
        if name == setting:
            return JSONResponse(_setting(name, value))
    raise ApiError(google_not_found())
