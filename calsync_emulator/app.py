"""The emulator's ASGI app: Google and Microsoft on the wire, plus the /_emulator control API.

Mount points relative to the base URL (see docs/emulator.md and urls.py):
  /google/token                    Google OAuth token endpoint
  /google/auth                     Google's authorization endpoint (consent page; authorization.py)
  /microsoft/login/{tenant}/oauth2/v2.0/authorize   Entra's authorization endpoint
  /google/calendar/v3/...          Google Calendar API v3
  /microsoft/login/{tenant}/oauth2/v2.0/token
  /microsoft/login/{tenant}/v2.0/.well-known/openid-configuration, …/discovery/v2.0/keys
  /microsoft/graph/v1.0/...        Microsoft Graph
  /_emulator/...                   control API
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from calsync_emulator import (
    authorization,
    control,
    google_api,
    google_channels,
    google_freebusy,
    google_settings,
    graph_api,
    graph_subscriptions,
    oauth,
    oidc,
)
from calsync_emulator.control_out import control_error
from calsync_emulator.errors import ApiError
from calsync_emulator.fallback import graph_literals, platform_error
from calsync_emulator.jsonio import JSONResponse
from calsync_emulator.metrics import MetricsMiddleware
from calsync_emulator.notifications import Notifier
from calsync_emulator.state import EmulatorState
from calsync_emulator.world_errors import Conflict

GOOGLE_API_PREFIX = "/google/calendar/v3"
GRAPH_PREFIX = "/microsoft/graph/v1.0"


def create_app(state: EmulatorState | None = None) -> FastAPI:
    state = state or EmulatorState()
    notifier = Notifier(state)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await notifier.start()
        try:
            yield
        finally:
            await notifier.aclose()

    # The docs page's assets come from the emulator itself (fastapi-offline), so it works offline.
    app = FastAPIOffline(
        docs_url="/_emulator/docs",
        redoc_url=None,
        title="calsync platform emulator",
        lifespan=lifespan,
        openapi_url="/_emulator/openapi.json",
        default_response_class=JSONResponse,
        static_url="/_emulator/docs-assets",
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.state.emulator = state
    app.state.notifier = notifier
    app.include_router(oauth.router)
    app.include_router(authorization.router)
    app.include_router(oidc.router)
    app.include_router(google_api.router, prefix=GOOGLE_API_PREFIX)
    app.include_router(google_channels.router, prefix=GOOGLE_API_PREFIX)
    app.include_router(google_freebusy.router, prefix=GOOGLE_API_PREFIX)
    app.include_router(google_settings.router, prefix=GOOGLE_API_PREFIX)
    app.include_router(graph_api.router, prefix=GRAPH_PREFIX)
    app.include_router(graph_subscriptions.router, prefix=GRAPH_PREFIX)
    app.include_router(control.router)
    app.add_middleware(
        MetricsMiddleware, metrics=lambda: state.metrics, clock=time.time, prefixes=(GOOGLE_API_PREFIX, GRAPH_PREFIX)
    )

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return exc.response

    graph_routes = [*graph_api.router.routes, *graph_subscriptions.router.routes]
    known_graph = graph_literals([r.path for r in graph_routes if isinstance(r, APIRoute)])

    # unknown routes and refused requests under the platform prefixes answer in the platform's dialect
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        answer = platform_error(request, exc.status_code, str(exc.detail), known_graph)
        return answer if answer is not None else await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        answer = platform_error(request, 422, "Invalid request.", known_graph)
        return answer if answer is not None else await request_validation_exception_handler(request, exc)

    @app.exception_handler(LookupError)
    async def not_found(_: Request, exc: LookupError) -> JSONResponse:
        return control_error(404, exc)

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> JSONResponse:
        return control_error(409, exc)

    @app.exception_handler(ValueError)
    async def bad_input(_: Request, exc: ValueError) -> JSONResponse:
        return control_error(400, exc)

    return app
