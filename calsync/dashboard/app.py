"""The dashboard: a small FastAPI app mounted at /dashboard of calsync's API app.

A sub-application rather than more routes on the API: its errors are HTML pages (the API's are JSON), it has its
own security headers and no entry in /openapi.json. The API app's middleware (body limit, catch-all) still wraps
it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from calsync.api.errors import ApiError
from calsync.connect.dashboard import ConnectExtension
from calsync.context import AppContext
from calsync.dashboard import pages
from calsync.dashboard.bots.extension import BotsExtension
from calsync.dashboard.extensions import DashboardExtension, Extensions
from calsync.dashboard.meetings.extension import MeetingsExtension
from calsync.dashboard.session import KEY_PURPOSE, Signer
from calsync.dashboard.sign_in_limit import SignInLimiter
from calsync.dashboard.web import (
    ENVIRONMENT,
    DashboardError,
    DashboardState,
    SignInRequired,
    base_path,
    not_signed_in_response,
)
from calsync.store.transient import transient_kind

log = structlog.get_logger(__name__)

MOUNT_PATH = "/dashboard"
STATIC = Path(__file__).parent / "static"

# No script runs on any page (there is none), styles come only from /dashboard/static, nothing may frame the
# dashboard, and forms post only to it.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def default_extensions() -> list[DashboardExtension]:
    """The extensions every build has (docs/dashboard.md, "The extension point")."""
    return [BotsExtension(), MeetingsExtension(), ConnectExtension()]


def _error_page(request: Request, status: int, title: str, message: str = "") -> HTMLResponse:
    html = ENVIRONMENT.get_template("error.html").render(
        base=base_path(request),
        operator=getattr(request.state, "operator", None),
        nav_links=[],
        notice=None,
        title=title,
        message=message,
        status=status,
        path=request.url.path,
    )
    return HTMLResponse(html, status_code=status)


async def _dashboard_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DashboardError)
    return _error_page(request, exc.status, exc.title, exc.message)


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    return not_signed_in_response(request)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Page not found", 405: "Method not allowed"}
    return _error_page(request, exc.status_code, titles.get(exc.status_code, str(exc.detail)))


async def _api_error(request: Request, exc: Exception) -> Response:
    # Shared pieces (the API's cursor decoding) raise ApiError; here it is a page.
    assert isinstance(exc, ApiError)
    if exc.status == 404:
        return _error_page(request, 404, "Page not found", "The page link is not valid (an old or altered cursor).")
    return _error_page(request, exc.status, "Request refused", str(exc.body.get("error") or exc.body.get("detail")))


class DashboardHeaders:
    """Security headers on every response, no caching of pages (they show customer data), a `Server-Timing`
    header with the time and CPU the server spent (bench/dashboard_pages.py reads it), and an HTML page for an
    unexpected error or an unavailable database instead of the API's JSON."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at, cpu_at = time.perf_counter(), time.process_time()
        started = False
        is_static = str(scope.get("path", "")).startswith(f"{scope.get('root_path', '')}/static/")

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                headers += SECURITY_HEADERS
                headers.append((b"cache-control", b"public, max-age=3600" if is_static else b"no-store"))
                elapsed_ms = (time.perf_counter() - started_at) * 1000
                # The process's CPU time too: on a shared machine wall time waits for other processes, CPU time
                # does not (it counts every thread of the process, the SQLite driver's included).
                cpu_ms = (time.process_time() - cpu_at) * 1000
                headers.append((b"server-timing", f"app;dur={elapsed_ms:.2f}, cpu;dur={cpu_ms:.2f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            if started:
                raise
            request = Request(scope)
            if transient_kind(exc) is not None:
                log.warning(
                    "dashboard_database_unavailable", path=scope.get("path"), database_fault=transient_kind(exc)
                )
                response = _error_page(
                    request, 503, "Database unavailable", "The database did not answer; reload shortly."
                )
                response.headers["Retry-After"] = "2"
            else:
                error_id = str(uuid.uuid4())
                log.exception("dashboard_unhandled_error", error_id=error_id, path=scope.get("path"))
                response = _error_page(request, 500, "Something went wrong", f"Error ID: {error_id} (in the log).")
            await response(scope, receive, send_with_headers)


def create_dashboard_app(context: AppContext, extensions: Sequence[DashboardExtension] | None = None) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    chosen = list(default_extensions() if extensions is None else extensions)
    app.state.dashboard = DashboardState(
        context=context,
        signer=Signer(context.secrets.derived_keys(KEY_PURPOSE)),
        extensions=Extensions(chosen),
        # The clock is looked up on each call: tests (and only they) replace the context's clock.
        sign_in_limiter=SignInLimiter(context.settings.dashboard_sign_in_failures_per_minute, lambda: context.clock()),
    )
    app.add_exception_handler(DashboardError, _dashboard_error)
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ApiError, _api_error)
    for router in pages.routers():
        app.include_router(router)
    for extension in chosen:
        extra = extension.router()
        if extra is not None:
            app.include_router(extra)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(DashboardHeaders)
    return app


def mount_dashboard(app: FastAPI, context: AppContext) -> None:
    """Serve the dashboard at /dashboard of `app` (calsync's API app)."""
    app.mount(MOUNT_PATH, create_dashboard_app(context))
