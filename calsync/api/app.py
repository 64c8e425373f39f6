"""The FastAPI application of the core (calendars, events, push, health); the features add their routers and the
dashboard is mounted by the composition root (calsync.runtime)."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from calsync import __version__
from calsync.api import openapi
from calsync.api.routes import calendar_events, calendars, health, platform_calendars, push
from calsync.api.routes.common import reject_unstorable_parameters, require_json_media_type
from calsync.api.routes.health import ScrapeGauges
from calsync.context import AppContext
from calsync.json_response import JSONResponse
from calsync.push.missed import MissedNotifications
from calsync.web.errors import (
    ApiError,
    BodySizeLimitMiddleware,
    CatchAllMiddleware,
    api_error_handler,
    http_exception_handler,
    validation_error_handler,
)
from calsync.web.ratelimit import SlidingWindowLimiter

DESCRIPTION = """calsync keeps your users' Google and Microsoft calendars mirrored and tells you by signed webhook
when events change. Its calendar API is wire-compatible with Attendee's.

Authenticate with `Authorization: Token <api key>`."""


DOCS_ASSETS_PATH = "/docs-assets"


def create_app(
    context: AppContext, routers: Sequence[APIRouter] = (), *, scrape_gauges: Sequence[ScrapeGauges] = ()
) -> FastAPI:
    """The API with the core's routes, then `routers` (the features', in the composition root's order), and the
    features' gauges that /metrics refreshes."""
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
    app.state.scrape_gauges = tuple(scrape_gauges)
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
    for router in routers:
        app.include_router(router)
    openapi.install(app)
    # Outermost first: the catch-all must wrap everything, including the body limit.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=context.settings.max_body_bytes)
    app.add_middleware(CatchAllMiddleware)
    return app
