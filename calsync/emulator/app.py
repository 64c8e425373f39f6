"""The emulator's ASGI app: Google and Microsoft on the wire, plus the /_emulator control API.

Mount points relative to the base URL (see docs/emulator.md and urls.py):
  /google/token                    Google OAuth token endpoint
  /google/calendar/v3/...          Google Calendar API v3
  /microsoft/login/{tenant}/oauth2/v2.0/token
  /microsoft/graph/v1.0/...        Microsoft Graph
  /_emulator/...                   control API
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi_offline import FastAPIOffline

from calsync.emulator import control, google_api, graph_api, oauth
from calsync.emulator.errors import ApiError
from calsync.emulator.metrics import MetricsMiddleware
from calsync.emulator.notifications import Notifier
from calsync.emulator.state import Conflict, EmulatorState
from calsync.json_response import JSONResponse

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
    app.include_router(google_api.router, prefix=GOOGLE_API_PREFIX)
    app.include_router(graph_api.router, prefix=GRAPH_PREFIX)
    app.include_router(control.router)
    app.add_middleware(
        MetricsMiddleware, metrics=lambda: state.metrics, clock=time.time, prefixes=(GOOGLE_API_PREFIX, GRAPH_PREFIX)
    )

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return exc.response

    @app.exception_handler(LookupError)
    async def not_found(_: Request, exc: LookupError) -> JSONResponse:
        return control.control_error(404, exc)

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> JSONResponse:
        return control.control_error(409, exc)

    @app.exception_handler(ValueError)
    async def bad_input(_: Request, exc: ValueError) -> JSONResponse:
        return control.control_error(400, exc)

    return app
