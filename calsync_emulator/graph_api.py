"""Microsoft Graph v1.0 routes: /me, calendars, calendarView (+delta), events (list and {id}); subscriptions are
in graph_subscriptions.py.

Every route exists under `/me/...` and `/users/{id-or-upn}/...`; calendar-scoped routes also under
`/me/calendar/...` (the default calendar) and `/me/calendars/{id}/...`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request

from calsync_emulator import odata_filter, render_graph, tokens
from calsync_emulator.errors import ApiError, graph_error, graph_not_found, graph_unauthorized
from calsync_emulator.gate import admit, emulator_state
from calsync_emulator.jsonio import JSONResponse
from calsync_emulator.model import Account, Calendar, EventKind, Platform
from calsync_emulator.state import EmulatorState
from calsync_emulator.timeutil import find_zone, parse_graph_datetime
from calsync_emulator.views import Row, find_row, graph_changes, row_start, window_rows

router = APIRouter()

_TOKEN_PROBLEMS = {
    "missing": "Access token is empty.",
    "expired": "Access token has expired or is not yet valid.",
    "invalid": "CompactToken parsing failed with error code: 80049217",
}


async def graph_account(request: Request, state: EmulatorState = Depends(emulator_state)) -> Account:
    account, problem = state.grants.resolve_access_token(request.headers.get("authorization"))
    await admit(request, state, "microsoft", account.id if account else None)
    if account is not None and account.platform is not Platform.MICROSOFT:
        account, problem = None, "invalid"
    if problem is not None or account is None:
        raise ApiError(graph_unauthorized(_TOKEN_PROBLEMS[problem or "invalid"], state.now()))
    user = request.path_params.get("user")
    if user is not None and user.lower() not in (account.user_id, account.email.lower()):
        raise ApiError(
            graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.", state.now())
        )
    return account


def check_mailbox(state: EmulatorState, account: Account) -> None:
    if not account.mailbox_enabled:
        raise ApiError(
            graph_error(
                404,
                "MailboxNotEnabledForRESTAPI",
                "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
                state.now(),
            )
        )
    if not account.calendar_access:
        raise ApiError(
            graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.", state.now())
        )


def _calendar(state: EmulatorState, account: Account, calendar_id: str | None, *, events: bool = False) -> Calendar:
    check_mailbox(state, account)
    calendar_id = calendar_id or account.primary_calendar_id
    if calendar_id not in account.calendars:
        raise ApiError(graph_not_found(state.now()))
    return state.directory.calendar(calendar_id, events=events)


def service_root(request: Request) -> str:
    """The Graph root on this emulator's own host: links must lead back here."""
    return f"{str(request.base_url).rstrip('/')}/microsoft/graph/v1.0"


def _prefer(request: Request) -> dict[str, str]:
    prefs: dict[str, str] = {}
    for header in request.headers.getlist("prefer"):
        for part in header.split(","):
            name, _, value = part.strip().partition("=")
            if name:
                prefs[name.strip().lower()] = value.strip().strip('"')
    return prefs


class _Prefs:
    """Prefer: odata.maxpagesize / outlook.timezone, and what to echo in Preference-Applied."""

    def __init__(self, request: Request, state: EmulatorState, default_page: int) -> None:
        prefs = _prefer(request)
        self.applied: list[str] = []
        self.tz_name = "UTC"
        tz = prefs.get("outlook.timezone")
        if tz and find_zone(tz) is not None:
            self.tz_name = tz
            self.applied.append(f'outlook.timezone="{tz}"')
        self.page_size = default_page
        size = prefs.get("odata.maxpagesize")
        if size and size.isdigit() and int(size) > 0:
            self.page_size = min(int(size), state.config.graph_max_page_size)
            self.applied.append(f"odata.maxpagesize={self.page_size}")

    def headers(self, *extra: str) -> dict[str, str]:
        values = [*extra, *self.applied]
        return {"Preference-Applied": ", ".join(values)} if values else {}


def _window(request: Request, state: EmulatorState) -> tuple[float, float]:
    params = request.query_params
    start, end = (
        params.get("startDateTime") or params.get("StartDateTime"),
        params.get("endDateTime") or params.get("EndDateTime"),
    )
    if not start or not end:
        raise ApiError(
            graph_error(
                400,
                "ErrorInvalidParameter",
                "This request requires a time window specified by the query string parameters "
                "StartDateTime and EndDateTime.",
                state.now(),
            )
        )
    try:
        return parse_graph_datetime(start).timestamp(), parse_graph_datetime(end).timestamp()
    except ValueError:
        raise ApiError(
            graph_error(400, "ErrorInvalidParameter", "The value of the parameter is invalid.", state.now())
        ) from None


def _me_routes(path: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a GET handler under /me{path} and /users/{user}{path}."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        router.add_api_route("/me" + path, func, methods=["GET"], **kwargs)
        router.add_api_route("/users/{user}" + path, func, methods=["GET"], **kwargs)
        return func

    return register


@_me_routes("")
async def me(request: Request, account: Account = Depends(graph_account)) -> JSONResponse:
    return JSONResponse(render_graph.user(account, service_root(request)))


@_me_routes("/calendar")
@_me_routes("/calendars/{calendar_id}")
async def calendar_get(
    request: Request,
    calendar_id: str | None = None,
    account: Account = Depends(graph_account),
    state: EmulatorState = Depends(emulator_state),
) -> JSONResponse:
    cal = _calendar(state, account, calendar_id)
    context = f"{service_root(request)}/$metadata#users('{account.user_id}')/calendars/$entity"
    return JSONResponse({"@odata.context": context, **render_graph.calendar(cal, account)})


@_me_routes("/calendars")
async def calendars_list(
    request: Request, account: Account = Depends(graph_account), state: EmulatorState = Depends(emulator_state)
) -> JSONResponse:
    check_mailbox(state, account)
    context = f"{service_root(request)}/$metadata#users('{account.user_id}')/calendars"
    return JSONResponse(
        {"@odata.context": context, "value": [render_graph.calendar(c, account) for c in account.calendars.values()]}
    )


def _select(request: Request, item: dict[str, Any]) -> dict[str, Any]:
    select = request.query_params.get("$select")
    if not select:
        return item
    wanted = {s.strip() for s in select.split(",")} | {"id", "@odata.etag"}
    return {k: v for k, v in item.items() if k in wanted}


@_me_routes("/calendarView")
@_me_routes("/calendar/calendarView")
@_me_routes("/calendars/{calendar_id}/calendarView")
async def calendar_view(
    request: Request,
    calendar_id: str | None = None,
    account: Account = Depends(graph_account),
    state: EmulatorState = Depends(emulator_state),
) -> JSONResponse:
    cal = _calendar(state, account, calendar_id, events=True)
    lo, hi = _window(request, state)
    prefs = _Prefs(request, state, state.config.graph_default_page_size)
    top = request.query_params.get("$top")
    page_size = (
        min(int(top), state.config.graph_max_page_size) if top and top.isdigit() and int(top) > 0 else prefs.page_size
    )
    offset = 0
    skip = request.query_params.get("$skiptoken")
    if skip is not None:
        payload = tokens.decode(skip, "gv")
        if payload is None or payload.get("c") != cal.id:
            raise ApiError(graph_error(400, "ErrorInvalidParameter", "The skip token is invalid.", state.now()))
        offset = int(payload["o"])
    else:
        skip_n = request.query_params.get("$skip")
        offset = int(skip_n) if skip_n and skip_n.isdigit() else 0
    rows = window_rows(cal, lo, hi, state.horizon(), expand=True)
    page = rows[offset : offset + page_size]
    body: dict[str, Any] = {
        "@odata.context": f"{service_root(request)}/$metadata#users('{account.user_id}')/calendarView",
        "value": [_select(request, render_graph.event(account, cal, r, prefs.tz_name)) for r in page],
    }
    if offset + page_size < len(rows):
        params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("$skiptoken", "$skip")]
        params.append(("$skiptoken", tokens.encode({"k": "gv", "c": cal.id, "o": offset + page_size})))
        body["@odata.nextLink"] = f"{service_root(request)}{_suffix(request)}?{urlencode(params, safe='$')}"
    return JSONResponse(body, headers=prefs.headers())


def _suffix(request: Request) -> str:
    return request.url.path.split("/microsoft/graph/v1.0", 1)[1]


def _sync_state_not_found(state: EmulatorState, cal: Calendar, generation: int) -> ApiError:
    return ApiError(
        graph_error(
            410,
            "SyncStateNotFound",
            f"The sync state generation is not found; generation={generation};[highest={cal.seq}]",
            state.now(),
        )
    )


# `delta` and the OData function-call form `delta()` (which msgraph-sdk's generated builders send) are one
# function; links keep the form the round started with
@_me_routes("/calendarView/delta")
@_me_routes("/calendar/calendarView/delta")
@_me_routes("/calendars/{calendar_id}/calendarView/delta")
@_me_routes("/calendarView/delta()")
@_me_routes("/calendar/calendarView/delta()")
@_me_routes("/calendars/{calendar_id}/calendarView/delta()")
async def calendar_view_delta(
    request: Request,
    calendar_id: str | None = None,
    account: Account = Depends(graph_account),
    state: EmulatorState = Depends(emulator_state),
) -> JSONResponse:
    params = request.query_params
    skip, delta = params.get("$skiptoken"), params.get("$deltatoken")
    # an incremental round reads only the change log; a full round (no token, or paging one) reads events
    incremental = delta is not None or (skip is not None and int((tokens.decode(skip, "gd") or {}).get("s", -1)) >= 0)
    cal = _calendar(state, account, calendar_id, events=not incremental)
    prefs = _Prefs(request, state, state.config.graph_default_page_size)
    empty_done = False
    if skip is not None:
        payload = tokens.decode(skip, "gd")
        if payload is None or payload.get("c") != cal.id or payload.get("e") != cal.epoch:
            raise _sync_state_not_found(state, cal, int(payload["s"]) if payload else 0)
        since, snapshot, offset, lo, hi = payload["s"], payload["t"], payload["o"], payload["lo"], payload["hi"]
        empty_done = True
    elif delta is not None:
        payload = tokens.decode(delta, "gdl")
        if payload is None or not state.sync_states.valid(cal, payload):
            raise _sync_state_not_found(state, cal, int(payload["s"]) if payload else 0)
        since, snapshot, offset, lo, hi = payload["s"], cal.seq, 0, payload["lo"], payload["hi"]
    else:
        lo, hi = _window(request, state)
        since, snapshot, offset = -1, cal.seq, 0

    items: list[Row | str]
    if since < 0:
        items = list(window_rows(cal, lo, hi, state.horizon(), expand=True))
    else:
        rows, removed = graph_changes(cal, since, snapshot, lo=lo, hi=hi, horizon=state.horizon())
        items = [*rows, *removed]
    root = service_root(request)
    body: dict[str, Any] = {"@odata.context": f"{root}/$metadata#Collection(event)", "value": []}
    if state.config.graph_empty_page_first and not empty_done:
        page: list[Row | str] = []
        next_offset: int | None = offset
    else:
        page = items[offset : offset + prefs.page_size]
        next_offset = offset + prefs.page_size if offset + prefs.page_size < len(items) else None
    body["value"] = [
        render_graph.removed(item) if isinstance(item, str) else render_graph.event(account, cal, item, prefs.tz_name)
        for item in page
    ]
    link_base = f"{root}{_suffix(request)}"
    if next_offset is not None:
        token = tokens.encode(
            {"k": "gd", "c": cal.id, "e": cal.epoch, "s": since, "t": snapshot, "o": next_offset, "lo": lo, "hi": hi}
        )
        body["@odata.nextLink"] = f"{link_base}?{urlencode({'$skiptoken': token}, safe='$')}"
    else:
        token = tokens.encode({"k": "gdl", "s": snapshot, "lo": lo, "hi": hi, **state.sync_states.stamp(cal)})
        body["@odata.deltaLink"] = f"{link_base}?{urlencode({'$deltatoken': token}, safe='$')}"
    return JSONResponse(body, headers=prefs.headers("odata.track-changes"))


@_me_routes("/events")
@_me_routes("/calendar/events")
@_me_routes("/calendars/{calendar_id}/events")
async def events_list(
    request: Request,
    calendar_id: str | None = None,
    account: Account = Depends(graph_account),
    state: EmulatorState = Depends(emulator_state),
) -> JSONResponse:
    """List events: single events and series masters (never occurrences or exceptions) of one calendar,
    `/me/events` being the default calendar's. `$filter`/`$orderby` (odata_filter.py), `$top`/`$skip` with a
    `$skip` nextLink, `$select`, and `Prefer: outlook.timezone` / `odata.maxpagesize`."""
    cal = _calendar(state, account, calendar_id, events=True)
    params = request.query_params
    prefs = _Prefs(request, state, state.config.graph_default_page_size)
    page_size = prefs.page_size
    top = params.get("$top")
    if top is not None:
        if not top.isdigit() or int(top) < 1:
            raise ApiError(graph_error(400, "BadRequest", f"Invalid value '{top}' for $top query option.", state.now()))
        page_size = min(int(top), state.config.graph_max_page_size)
    skip = params.get("$skip", "0")
    if not skip.isdigit():
        raise ApiError(graph_error(400, "BadRequest", f"Invalid value '{skip}' for $skip query option.", state.now()))
    offset = int(skip)
    try:
        keep = odata_filter.parse_filter(params["$filter"]) if params.get("$filter") else None
        order = odata_filter.parse_orderby(params["$orderby"]) if params.get("$orderby") else []
    except odata_filter.FilterError as exc:
        raise ApiError(graph_error(400, exc.code, str(exc), state.now())) from None
    rows = sorted(
        (e for e in cal.events.values() if not e.deleted and e.kind in (EventKind.SINGLE, EventKind.MASTER)),
        key=lambda e: (row_start(cal, e), e.id),
    )
    # filters and sorting see the event as rendered in UTC, whatever zone the answer is rendered in
    pairs = [(render_graph.event(account, cal, e, "UTC"), e) for e in rows]
    if keep is not None:
        pairs = [(utc, e) for utc, e in pairs if keep(utc)]
    if order:
        by_id = {id(utc): e for utc, e in pairs}
        pairs = [(utc, by_id[id(utc)]) for utc in odata_filter.sort_rendered([utc for utc, _ in pairs], order)]
    page = pairs[offset : offset + page_size]
    body: dict[str, Any] = {
        "@odata.context": f"{service_root(request)}/$metadata#users('{account.user_id}')/events",
        "value": [
            _select(request, utc if prefs.tz_name == "UTC" else render_graph.event(account, cal, e, prefs.tz_name))
            for utc, e in page
        ],
    }
    if offset + page_size < len(pairs):
        next_params = [(k, v) for k, v in params.multi_items() if k != "$skip"]
        next_params.append(("$skip", str(offset + page_size)))
        body["@odata.nextLink"] = f"{service_root(request)}{_suffix(request)}?{urlencode(next_params, safe='$/')}"
    return JSONResponse(body, headers=prefs.headers())


@_me_routes("/events/{event_id}")
@_me_routes("/calendar/events/{event_id}")
@_me_routes("/calendars/{calendar_id}/events/{event_id}")
async def event_get(
    request: Request,
    event_id: str,
    calendar_id: str | None = None,
    account: Account = Depends(graph_account),
    state: EmulatorState = Depends(emulator_state),
) -> JSONResponse:
    check_mailbox(state, account)
    calendars = (
        [_calendar(state, account, calendar_id, events=True)]
        if calendar_id
        else [state.directory.calendar(c) for c in account.calendars]
    )
    for cal in calendars:
        row = find_row(cal, event_id, state.horizon())
        if row is not None and not getattr(row, "deleted", False):
            prefs = _Prefs(request, state, 1)
            return JSONResponse(
                _select(request, render_graph.event(account, cal, row, prefs.tz_name)), headers=prefs.headers()
            )
    raise ApiError(graph_not_found(state.now()))
