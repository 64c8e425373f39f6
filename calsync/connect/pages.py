"""The hosted pages at /connect: the session's link, the platform chooser, the start of the authorization, and
the platform's callback. Every failure ends the same way: a redirect to the session's return URL with `error` and
`state`, or a readable page when there is none (or it is no longer allowed)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.connect import browser, finish, oauth, sessions, webhook
from calsync.connect import settings_store as store
from calsync.connect.templates_env import render
from calsync.context import AppContext
from calsync.dashboard.session import Signer
from calsync.store.models import ConnectSession
from calsync.web.ratelimit import SlidingWindowLimiter, retry_after_seconds
from calsync.webhooks.outbox import enqueue_webhooks

log = structlog.get_logger(__name__)
router = APIRouter()

MAX_FORM_BYTES = 4096
ERROR_MESSAGES = {
    sessions.USER_DENIED: "You did not allow access to your calendar, so it was not connected.",
    sessions.SCOPE_NOT_GRANTED: "Access to your calendar was not granted. Start again and tick the calendar box.",
    sessions.SESSION_EXPIRED: "This link has expired. Go back to the application and start again.",
    sessions.SESSION_ALREADY_USED: "This link was already used. Go back to the application and start again.",
    sessions.PROVIDER_ERROR: "The calendar platform reported a problem. Go back to the application and try again.",
    sessions.PLATFORM_MISMATCH: "This calendar was connected with another platform before. Choose that platform.",
    "invalid_link": "This link is not valid. Go back to the application and start again.",
    "session_mismatch": "This sign-in was started in another browser. Go back to the application and start again.",
    "forbidden": "This form could not be accepted. Reload the page and try again.",
    "not_configured": "This platform is not available for this application.",
    "throttled": "Too many attempts. Wait a minute and try again.",
}


@dataclass
class ConnectState:
    context: AppContext
    signer: Signer
    callback_limiter: SlidingWindowLimiter


def state_of(request: Request) -> ConnectState:
    found = request.app.state.connect
    assert isinstance(found, ConnectState)
    return found


def _secure(request: Request, context: AppContext) -> bool:
    return request.url.scheme == "https" or (context.settings.public_url or "").startswith("https://")


def error_page(request: Request, error: str, status: int = 400) -> HTMLResponse:
    return render(request, "error.html", status=status, error=error, message=ERROR_MESSAGES.get(error, error))


def _with_query(url: str, params: dict[str, str | None]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


async def _return_allowed(context: AppContext, row: ConnectSession) -> bool:
    """Checked again at the end: a URL removed from the list since the session was created is not used."""
    if row.return_url is None:
        return False
    async with context.db.read() as session:
        settings_row = await store.load(session, row.project_id)
        return store.return_url_allowed(settings_row, row.return_url)


async def _finish_response(request: Request, row: ConnectSession, **params: str | None) -> Response:
    context = state_of(request).context
    if await _return_allowed(context, row):
        assert row.return_url is not None
        target = _with_query(row.return_url, {**params, "state": row.client_state})
        return RedirectResponse(target, status_code=303)
    if params.get("error"):
        return error_page(request, str(params["error"]))
    return render(request, "done.html", calendar_id=params.get("calendar_id"))


async def _fail_and_answer(request: Request, object_id: str, error: str) -> Response:
    context = state_of(request).context
    now = context.clock()
    async with context.db.write() as session:
        row = await sessions.by_object_id(session, object_id)
        assert row is not None
        if row.status not in (sessions.COMPLETED, sessions.FAILED):
            sessions.fail(row, error, now)
            log.info("connect_session_failed", connect_session=object_id, error=error)
            await enqueue_webhooks(session, row.project_id, [webhook.failed(row)], now)
    context.work_signal.kick()
    return await _finish_response(request, row, error=row.error or error)


async def _start_authorization(
    request: Request, session: AsyncSession, row: ConnectSession, platform: str
) -> Response | str:
    """Bind a fresh state and PKCE verifier to the session (in the caller's transaction); the platform's URL, or
    an error page when the project has no app for the platform."""
    context = state_of(request).context
    app = store.app_of(await store.load(session, row.project_id), platform, context.secrets)
    if app is None:
        return error_page(request, "not_configured")
    state, verifier = oauth.new_state(), oauth.new_verifier()
    row.chosen_platform = platform
    row.oauth_state = state
    row.encrypted_verifier = context.secrets.encrypt(verifier.encode())
    row.status = sessions.AUTHORIZING
    redirect_uri = store.redirect_uri(context.settings, platform)
    return await oauth.authorization_url(app, redirect_uri, context.settings, state, verifier)


@router.get("/open/{token}", include_in_schema=False)
async def open_session(request: Request, token: str) -> Response:
    """The session's link: usable once, from then on the session belongs to this browser (its cookie)."""
    connect = state_of(request)
    context = connect.context
    now = context.clock()
    async with context.db.write() as session:
        row = await sessions.by_launch_token(session, token)
        if row is None:
            return error_page(request, "invalid_link", 404)
        if row.status != sessions.PENDING:
            # Another browser (or a second click) must not take over a session in progress: refused, unchanged.
            return await _finish_response(request, row, error=sessions.SESSION_ALREADY_USED)
        if sessions.is_expired(row, now):
            object_id = row.object_id
            expired = True
        else:
            expired = False
            binding = browser.BrowserBinding(row.object_id, oauth.new_state())
            row.status = sessions.OPENED
            row.opened_at = now
            row.browser_nonce = binding.nonce
            target: Response | str = f"{request.scope.get('root_path', '')}/choose"
            if row.platform is not None:
                target = await _start_authorization(request, session, row, row.platform)
            max_age = max(60, int((row.expires_at - now).total_seconds()))
    if expired:
        return await _fail_and_answer(request, object_id, sessions.SESSION_EXPIRED)
    if isinstance(target, Response):
        return target
    response = RedirectResponse(target, status_code=303)
    browser.set_cookie(response, connect.signer, binding, secure=_secure(request, context), max_age=max_age)
    return response


async def _bound_session(request: Request) -> tuple[ConnectSession | None, browser.BrowserBinding | None]:
    connect = state_of(request)
    binding = browser.binding_of(request, connect.signer)
    if binding is None:
        return None, None
    async with connect.context.db.read() as session:
        row = await sessions.get_any(session, binding.session_id)
    if row is None or row.browser_nonce != binding.nonce:
        return None, binding
    return row, binding


@router.get("/choose", include_in_schema=False)
async def choose(request: Request) -> Response:
    connect = state_of(request)
    row, binding = await _bound_session(request)
    if row is None or binding is None:
        return error_page(request, "session_mismatch")
    if row.status not in (sessions.OPENED, sessions.AUTHORIZING):
        return await _finish_response(request, row, error=sessions.SESSION_ALREADY_USED)
    if sessions.is_expired(row, connect.context.clock()):
        return await _fail_and_answer(request, row.object_id, sessions.SESSION_EXPIRED)
    async with connect.context.db.read() as session:
        platforms = store.configured_platforms(await store.load(session, row.project_id))
    return render(
        request, "choose.html", platforms=platforms, csrf_token=browser.csrf_token(connect.signer, binding.nonce)
    )


async def _read_form(request: Request) -> dict[str, str] | None:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10))
    except (UnicodeDecodeError, ValueError):
        return None


def _same_origin(request: Request, context: AppContext) -> bool:
    source = request.headers.get("origin") or request.headers.get("referer")
    if source is None:
        return True  # no browser's cross-site form; the CSRF token is still required
    allowed = {request.headers.get("host", ""), urlsplit(store.public_base_url(context.settings)).netloc}
    return urlsplit(source).netloc in allowed


@router.post("/authorize", include_in_schema=False)
async def authorize(request: Request) -> Response:
    connect = state_of(request)
    context = connect.context
    form = await _read_form(request)
    binding = browser.binding_of(request, connect.signer)
    if (
        form is None
        or binding is None
        or not _same_origin(request, context)
        or not browser.csrf_ok(connect.signer, binding.nonce, form.get("csrf_token"))
    ):
        return error_page(request, "forbidden", 403)
    platform = form.get("platform", "")
    if platform not in store.PLATFORMS:
        return error_page(request, "not_configured")
    now = context.clock()
    async with context.db.write() as session:
        row = await sessions.by_object_id(session, binding.session_id)
        if row is None or row.browser_nonce != binding.nonce:
            return error_page(request, "session_mismatch")
        if row.status not in (sessions.OPENED, sessions.AUTHORIZING):
            return await _finish_response(request, row, error=sessions.SESSION_ALREADY_USED)
        expired = sessions.is_expired(row, now)
        if not expired:
            if row.platform is not None and row.platform != platform:
                return error_page(request, "not_configured")
            target = await _start_authorization(request, session, row, platform)
    if expired:
        return await _fail_and_answer(request, binding.session_id, sessions.SESSION_EXPIRED)
    if isinstance(target, Response):
        return target
    return RedirectResponse(target, status_code=303)


@router.get("/callback/{platform}", include_in_schema=False)
async def callback(request: Request, platform: str) -> Response:
    """The platform sends the browser back here with `code` and `state`, or `error`. The answer's URL holds the
    one-time code: it is never sent on as a referrer."""
    response = await _callback(request, platform)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


async def _callback(request: Request, platform: str) -> Response:
    connect = state_of(request)
    context = connect.context
    if not context.settings.disable_rate_limiting:
        client = request.client.host if request.client else "unknown"
        wait = connect.callback_limiter.check(client)
        if wait is not None:
            response = error_page(request, "throttled", 429)
            response.headers["Retry-After"] = str(retry_after_seconds(wait))
            return response
    params = request.query_params
    state = params.get("state") or ""
    binding = browser.binding_of(request, connect.signer)
    now = context.clock()
    async with context.db.write() as session:
        row = await sessions.by_oauth_state(session, state) if state else None
        # An unknown state, a state of the other platform's callback, or a session another browser holds: a forged
        # or swapped response. Nothing changes, and nothing is redirected to.
        if row is None or row.chosen_platform != platform:
            log.warning("connect_callback_unknown_state", platform=platform)
            return error_page(request, "invalid_link")
        if binding is None or binding.session_id != row.object_id or binding.nonce != row.browser_nonce:
            log.warning("connect_callback_session_mismatch", connect_session=row.object_id)
            return error_page(request, "session_mismatch")
        if row.status != sessions.AUTHORIZING:
            return await _finish_response(request, row, error=sessions.SESSION_ALREADY_USED)
        object_id = row.object_id
        if sessions.is_expired(row, now):
            error: str | None = sessions.SESSION_EXPIRED
        elif params.get("error"):
            error = sessions.USER_DENIED if params.get("error") == "access_denied" else sessions.PROVIDER_ERROR
            log.info("connect_platform_error", connect_session=object_id, platform_error=params.get("error"))
        elif not params.get("code"):
            error = sessions.PROVIDER_ERROR
        else:
            error = None
            # Taken before the network call, so a replayed or concurrent callback finds it used.
            row.status = sessions.EXCHANGING
            assert row.encrypted_verifier is not None
            verifier = context.secrets.decrypt(row.encrypted_verifier).decode()
            app = store.app_of(await store.load(session, row.project_id), platform, context.secrets)
    if error is not None:
        return await _fail_and_answer(request, object_id, error)
    if app is None:
        return await _fail_and_answer(request, object_id, sessions.PROVIDER_ERROR)
    return await _exchange_and_finish(request, object_id, app, params["code"], verifier)


async def _exchange_and_finish(
    request: Request, object_id: str, app: store.OAuthApp, code: str, verifier: str
) -> Response:
    context = state_of(request).context
    redirect_uri = store.redirect_uri(context.settings, app.platform)
    try:
        token = await oauth.exchange(app, redirect_uri, context.settings, code, verifier)
    except oauth.ExchangeFailed as exc:
        log.warning("connect_code_exchange_failed", connect_session=object_id, platform_error=exc.error)
        return await _fail_and_answer(request, object_id, sessions.PROVIDER_ERROR)
    if not oauth.granted_calendar_access(app.platform, token, oauth.requested_scopes(app.platform)):
        return await _fail_and_answer(request, object_id, sessions.SCOPE_NOT_GRANTED)
    refresh_token = token.get("refresh_token")
    if not refresh_token:
        # Microsoft: offline_access was not granted; Google: no consent was shown (prompt=consent prevents it).
        error = sessions.SCOPE_NOT_GRANTED if app.platform == "microsoft" else sessions.PROVIDER_ERROR
        return await _fail_and_answer(request, object_id, error)
    now = context.clock()
    async with context.db.write() as session:
        row = await sessions.by_object_id(session, object_id)
        assert row is not None
        try:
            calendar = await finish.create_or_reconnect(session, row, app, str(refresh_token), context.secrets, now)
        except finish.PlatformMismatch:
            error_code: str | None = sessions.PLATFORM_MISMATCH
        else:
            error_code = None
            sessions.complete(row, calendar.object_id, now)
            await enqueue_webhooks(session, row.project_id, [webhook.completed(row, calendar)], now)
    if error_code is not None:
        return await _fail_and_answer(request, object_id, error_code)
    context.work_signal.kick()
    log.info("connect_session_completed", connect_session=object_id, calendar_id=row.calendar_object_id)
    return await _finish_response(request, row, calendar_id=row.calendar_object_id)
