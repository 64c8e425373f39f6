"""The hosted connect pages: a small app mounted at /connect of calsync's API app, like the dashboard (HTML errors,
its own security headers, nothing in /openapi.json)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from calsync.connect import browser, oauth
from calsync.connect.pages import ConnectState, router
from calsync.connect.settings_store import PLATFORMS
from calsync.context import AppContext
from calsync.settings import Settings
from calsync.web.ratelimit import SlidingWindowLimiter

MOUNT_PATH = "/connect"
STATIC = Path(__file__).parent / "static"

# No script at all, styles only from /connect/static, no frame may hold the pages. Forms post here, and the
# chooser's answer redirects to the platform's authorization endpoint, which `form-action` must name too.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' {platforms}; "
    "frame-ancestors 'none'; base-uri 'none'"
)
OTHER_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # No other site learns where the browser came from; same-origin, not no-referrer: with no-referrer a browser
    # sends `Origin: null` on the chooser's form, which the CSRF check refuses. The callback sends no-referrer.
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


def security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    origins = sorted({_origin(oauth.endpoints(settings, platform).authorize) for platform in PLATFORMS})
    policy = CONTENT_SECURITY_POLICY.format(platforms=" ".join(origins))
    return [(b"content-security-policy", policy.encode()), *OTHER_HEADERS]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class ConnectHeaders:
    def __init__(self, app: ASGIApp, headers: list[tuple[bytes, bytes]]) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                own = {k.lower() for k, _ in headers}
                message = {**message, "headers": headers + [(k, v) for k, v in self.headers if k not in own]}
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
    app.add_middleware(ConnectHeaders, headers=security_headers(context.settings))
    return app


def mount_connect(app: FastAPI, context: AppContext) -> None:
    """Serve the hosted connect pages at /connect of `app` (calsync's API app)."""
    app.mount(MOUNT_PATH, create_connect_app(context))
