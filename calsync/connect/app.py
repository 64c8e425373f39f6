"""The hosted connect pages: a small app mounted at /connect of calsync's API app, like the dashboard (HTML errors,
its own security headers, nothing in /openapi.json)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from calsync.api.ratelimit import SlidingWindowLimiter
from calsync.connect import browser
from calsync.connect.pages import ConnectState, router
from calsync.context import AppContext

MOUNT_PATH = "/connect"
STATIC = Path(__file__).parent / "static"

# No script at all, styles only from /connect/static, no frame may hold the pages, forms post only here.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # The callback's URL holds the one-time code: no page here tells another site where it came from.
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


class ConnectHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                message = {**message, "headers": headers + SECURITY_HEADERS}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_connect_app(context: AppContext) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.connect = ConnectState(
        context=context,
        signer=browser.signer(context.secrets),
        # The clock is looked up on each call: tests replace the context's clock.
        callback_limiter=SlidingWindowLimiter(
            context.settings.connect_callback_rate_per_minute, lambda: context.clock()
        ),
    )
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(ConnectHeaders)
    return app


def mount_connect(app: FastAPI, context: AppContext) -> None:
    """Serve the hosted connect pages at /connect of `app` (calsync's API app)."""
    app.mount(MOUNT_PATH, create_connect_app(context))
