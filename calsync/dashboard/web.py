"""What every dashboard page shares: templates, the signed-in operator, checked forms, links, errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from calsync.context import AppContext
from calsync.dashboard import session as sessions
from calsync.dashboard.extensions import Extensions, PanelContext
from calsync.dashboard.overview_cache import OverviewCache
from calsync.dashboard.queries import DAY_STATUSES, count_text
from calsync.dashboard.sign_in_limit import SignInLimiter
from calsync.providers.registry import PUSH_PLATFORMS
from calsync.store.keyset import KeysetPage, SeekKey
from calsync.store.models import Calendar
from calsync.web.pagination import Cursor, encode_cursor

TEMPLATES = Path(__file__).parent / "templates"
MAX_FORM_BYTES = 16_384


class DashboardError(Exception):
    """Rendered as an HTML error page with this status."""

    def __init__(self, status: int, title: str, message: str = "") -> None:
        super().__init__(status, title)
        self.status = status
        self.title = title
        self.message = message


class SignInRequired(Exception):
    """No valid session: the page redirects to the sign-in form (and the stale cookie is removed)."""


def not_found(what: str) -> DashboardError:
    # The same answer for an id that does not exist and one of another project: nothing tells them apart.
    return DashboardError(404, f"{what} not found", f"There is no {what.lower()} with this id in this project.")


# --- formatting ------------------------------------------------------------------------------------------------


def fmt_time(value: datetime | None, *, seconds: bool = False) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def fmt_iso(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fmt_span(delta: timedelta) -> str:
    seconds = int(abs(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400 * 2:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{seconds // 86400} days"


def fmt_relative(value: datetime | None, now: datetime) -> str:
    if value is None:
        return ""
    delta = value - now
    if abs(delta.total_seconds()) < 1:
        return "now"
    return f"in {fmt_span(delta)}" if delta.total_seconds() > 0 else f"{fmt_span(delta)} ago"


# How the pages name each platform, what its calendars' `client_id` is, and what PATCH reconnects it with.
PLATFORM_LABELS = {
    "google": "Google",
    "microsoft": "Microsoft",
    "caldav": "CalDAV",
    "icloud": "iCloud",
    "ics": "ICS feed",
}
CLIENT_ID_LABELS = {"caldav": "User name", "icloud": "Apple ID", "ics": "Feed host"}
RECONNECT_WITH = {
    "caldav": ("a new app password", "password"),
    "icloud": ("a new app-specific password", "password"),
    "ics": ("the feed's new address", "url"),
}


def platform_label(platform: str) -> str:
    return PLATFORM_LABELS.get(platform, platform)


@dataclass(frozen=True)
class Problem:
    label: str
    detail: str
    since: str | None = None


def calendar_problem(calendar: Calendar) -> Problem | None:
    """Why a calendar is not fine, in one line: its disconnection, else its last sync's error, else its push
    channel. The codes are the API's (`connection_failure_data.code`, `last_sync_error.code`)."""
    failure = calendar.connection_failure_data
    if calendar.state == "disconnected":
        data = failure if isinstance(failure, dict) else {}
        # The platform's own code says which of a kind's causes it was (a CalDAV 401 or 403, a feed gone).
        detail = f" ({data['platform_code']})" if data.get("platform_code") else ""
        return Problem(
            f"disconnected: {data.get('code', 'unknown')}{detail}", str(data.get("error") or ""), data.get("timestamp")
        )
    error = calendar.last_sync_error
    if isinstance(error, dict):
        return Problem(
            f"sync failed: {error.get('code', 'unknown')}", str(error.get("error") or ""), error.get("timestamp")
        )
    if calendar.push_state == "failing":
        return Problem("push channel failing", calendar.push_error or "")
    return None


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "svg"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["time"] = fmt_time
    env.filters["time_s"] = lambda value: fmt_time(value, seconds=True)
    env.filters["iso"] = fmt_iso
    env.globals["relative"] = fmt_relative
    env.globals["problem_of"] = calendar_problem
    env.filters["platform"] = platform_label
    env.globals["push_platforms"] = PUSH_PLATFORMS
    env.globals["client_id_label"] = lambda platform: CLIENT_ID_LABELS.get(platform, "OAuth client id")
    env.globals["reconnect_with"] = lambda platform: RECONNECT_WITH.get(
        platform, ("a new refresh token", "refresh_token")
    )
    env.globals["count_text"] = count_text
    env.globals["day_statuses"] = DAY_STATUSES
    return env


ENVIRONMENT = _environment()


# --- the app's state -------------------------------------------------------------------------------------------


@dataclass
class DashboardState:
    context: AppContext
    signer: sessions.Signer
    extensions: Extensions
    sign_in_limiter: SignInLimiter
    overview_cache: OverviewCache = field(default_factory=OverviewCache)


def state_of(request: Request) -> DashboardState:
    state = request.app.state.dashboard
    assert isinstance(state, DashboardState)
    return state


def base_path(request: Request) -> str:
    """The dashboard's root path as mounted (`/dashboard`), for links and the cookie's path."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def cookie_secure(request: Request) -> bool:
    """Cookies are `Secure` when the request came over https or the service's public URL is https (behind a
    TLS-terminating proxy the request itself may be plain http)."""
    public_url = state_of(request).context.settings.public_url or ""
    return request.url.scheme == "https" or public_url.startswith("https://")


# --- the signed-in operator ------------------------------------------------------------------------------------


async def signed_in(request: Request) -> sessions.Operator:
    """The dependency of every page: the operator of a valid session, or a redirect to the sign-in form."""
    state = state_of(request)
    now = state.context.clock()
    claims = sessions.decode_session(state.signer, request.cookies.get(sessions.SESSION_COOKIE), now)
    if claims is None:
        raise SignInRequired
    async with state.context.db.read() as session:
        operator = await sessions.operator_of(session, state.signer, claims)
    if operator is None:
        raise SignInRequired
    request.state.claims = claims
    request.state.operator = operator
    return operator


def _same_origin(request: Request) -> bool:
    """False when the browser says the form was posted from another site. Browsers send Origin with every
    cross-site POST (Referer where an old one does not); a request with neither is no browser's cross-site form,
    and is still refused without the session's token. Same site: the Host the request was sent to, or the host of
    CALSYNC_PUBLIC_URL (a proxy may rewrite Host)."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if source is None:
        return True
    allowed = {request.headers.get("host", "")}
    public_url = state_of(request).context.settings.public_url
    if public_url:
        allowed.add(urlsplit(public_url).netloc)
    return urlsplit(source).netloc in allowed


async def read_form(request: Request) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body (the only kind the dashboard's forms send), bounded."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise DashboardError(415, "Unsupported form", "The dashboard's forms send application/x-www-form-urlencoded.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise DashboardError(413, "Form too large")
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DashboardError(400, "Unreadable form") from exc


async def checked_form(request: Request, operator: sessions.Operator) -> dict[str, str]:
    """The form of an action, after the CSRF checks: the session's token, and no other site's Origin."""
    del operator  # signed_in ran first and left the claims on the request
    state = state_of(request)
    if not _same_origin(request):
        raise DashboardError(403, "Refused", "This form was sent from another site.")
    form = await read_form(request)
    if not sessions.csrf_ok(state.signer, request.state.claims, form.get("csrf_token")):
        raise DashboardError(
            403, "Refused", "The form's security token is missing or out of date. Reload the page and try again."
        )
    return form


# --- rendering -------------------------------------------------------------------------------------------------

NOTICES = {
    "sync_requested": "Sync requested: a worker picks the calendar up within moments.",
    "calendar_deleted": "The calendar and its events were deleted.",
    "delivery_requeued": "The delivery is queued again and will be attempted within moments.",
    "signed_out": "You are signed out.",
    "bot_cancelled": "The bot is cancelled. If it had been dispatched, its runner is told to pull it out.",
    "meeting_override_set": "The override is set and the meeting was re-evaluated: its decision below is the new one.",
}


def render(request: Request, template: str, *, status: int = 200, title: str = "", **values: Any) -> HTMLResponse:
    state = state_of(request)
    operator = getattr(request.state, "operator", None)
    notice = NOTICES.get(request.query_params.get("notice", ""))
    html = ENVIRONMENT.get_template(template).render(
        base=base_path(request),
        operator=operator,
        nav_links=state.extensions.nav_links(),
        notice=notice,
        title=title,
        path=request.url.path,
        **values,
    )
    return HTMLResponse(html, status_code=status)


def redirect(request: Request, path: str, **query: str) -> RedirectResponse:
    target = base_path(request) + path
    if query:
        target += "?" + urlencode(query)
    return RedirectResponse(target, status_code=303)


def panel_context(request: Request, operator: sessions.Operator) -> PanelContext:
    return PanelContext(operator=operator, now=state_of(request).context.clock(), base=base_path(request))


# --- keyset pages ----------------------------------------------------------------------------------------------


def page_links(request: Request, page: KeysetPage[Any], ordering: str) -> tuple[str | None, str | None]:
    """Relative links (`?…&cursor=…`) to the next and previous page, keeping the other query parameters; the
    cursors are the API's (calsync.web.pagination), so a dashboard page is one index range at any depth."""

    def link(key: SeekKey | None, backwards: bool) -> str | None:
        if key is None:
            return None
        params = {k: v for k, v in request.query_params.items() if k not in ("cursor", "notice")}
        params["cursor"] = encode_cursor(Cursor(ordering, key.value, key.row_id, backwards))
        return "?" + urlencode(params)

    return link(page.next_key, False), link(page.previous_key, True)


def safe_next(base: str, value: str | None) -> str:
    """Where to go after signing in: only a path inside the dashboard (never another site)."""
    if value and value.startswith(base + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return base + "/"


def not_signed_in_response(request: Request) -> Response:
    base = base_path(request)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = base + "/"
    response = RedirectResponse(f"{base}/login?{urlencode({'next': target})}", status_code=303)
    response.delete_cookie(sessions.SESSION_COOKIE, path=base or "/")
    return response
