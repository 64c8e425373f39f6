"""The FastAPI application."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from calsync import __version__
from calsync.api import openapi
from calsync.api.errors import (
    ApiError,
    BodySizeLimitMiddleware,
    CatchAllMiddleware,
    api_error_handler,
    http_exception_handler,
    validation_error_handler,
)
from calsync.api.ratelimit import SlidingWindowLimiter
from calsync.api.routes import (
    bot_rule_settings,
    bot_rules,
    bots,
    calendar_events,
    calendars,
    connect_sessions,
    health,
    meetings,
    platform_calendars,
    push,
)
from calsync.api.routes import webhooks as webhook_routes
from calsync.api.routes.common import reject_unstorable_parameters, require_json_media_type
from calsync.connect.app import mount_connect
from calsync.context import AppContext
from calsync.dashboard.app import mount_dashboard
from calsync.json_response import JSONResponse
from calsync.push.missed import MissedNotifications

DESCRIPTION = """calsync keeps your users' Google and Microsoft calendars mirrored and tells you by signed webhook
when events change. Its calendar API is wire-compatible with Attendee's.

Authenticate with `Authorization: Token <api key>`."""


DOCS_ASSETS_PATH = "/docs-assets"


def create_app(context: AppContext) -> FastAPI:
    # Swagger UI and ReDoc assets are served by calsync itself (fastapi-offline): the docs work with no network.
    app = FastAPIOffline(
        docs_url="/docs",
        redoc_url="/redoc",
        title="calsync",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        default_response_class=JSONResponse,
        static_url=DOCS_ASSETS_PATH,
        # No "valid" badge fetched from validator.swagger.io.
        swagger_ui_parameters={"validatorUrl": None},
        # Input rules every operation shares, checked before an endpoint reads its parameters or body.
        dependencies=[Depends(reject_unstorable_parameters), Depends(require_json_media_type)],
    )
    app.state.context = context
    # Notifications answered 503 while the database was unreachable, recorded later by calsync.push.upkeep.
    app.state.missed_pushes = MissedNotifications()
    app.state.create_limiter = SlidingWindowLimiter(context.settings.calendar_create_rate_per_minute, context.clock)
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_exception_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.include_router(calendars.router)
    app.include_router(calendar_events.router)
    app.include_router(health.router)
    app.include_router(push.router)
    app.include_router(platform_calendars.router)
    app.include_router(webhook_routes.router)
    app.include_router(bots.router)
    app.include_router(meetings.router)
    app.include_router(bot_rules.router)
    app.include_router(bot_rule_settings.router)
    app.include_router(connect_sessions.router)
    openapi.install(app)
    mount_dashboard(app, context)  # /dashboard: the operators' web pages (docs/dashboard.md)
    mount_connect(app, context)  # /connect: the hosted connect pages (docs/connect.md)
    # Outermost first: the catch-all must wrap everything, including the body limit.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=context.settings.max_body_bytes)
    app.add_middleware(CatchAllMiddleware)
    return app
