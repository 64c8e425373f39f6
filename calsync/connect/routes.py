"""`/api/v1/connect_settings` and `/api/v1/connect_sessions`: hosted connect (docs/connect.md)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request

from calsync.api.dependencies import Authenticated, Context, ReadSession
from calsync.api.routes.common import AttendeeRoute, allowed_fields
from calsync.connect import sessions as session_queries
from calsync.connect import settings_store as store
from calsync.connect.schemas import (
    CONNECT_SETTINGS_FIELDS,
    CREATE_SESSION_FIELDS,
    ConnectSessionCreated,
    ConnectSessionOut,
    ConnectSettingsOut,
    ConnectSettingsRequest,
    CreateConnectSessionRequest,
)
from calsync.context import AppContext
from calsync.json_response import JSONResponse
from calsync.web.errors import field_errors, not_found, throttled
from calsync.web.ratelimit import SlidingWindowLimiter

router = APIRouter(prefix="/api/v1", tags=["Connect"], route_class=AttendeeRoute)

SESSION_NOT_FOUND = "Connect session not found"


@router.get(
    "/connect_settings",
    operation_id="Get Connect Settings",
    summary="Get the project's hosted connect settings",
    response_model=ConnectSettingsOut,
)
async def get_connect_settings(caller: Authenticated, context: Context, session: ReadSession) -> JSONResponse:
    row = await store.load(session, caller.project_id)
    return JSONResponse(store.settings_json(row, context.settings))


@router.patch(
    "/connect_settings",
    operation_id="Update Connect Settings",
    summary="Change the project's OAuth apps and return URLs",
    description="Client secrets are stored encrypted and never returned. Register `redirect_uris` with each platform.",
    response_model=ConnectSettingsOut,
    responses={400: {"description": "Invalid input"}},
    dependencies=[Depends(allowed_fields(CONNECT_SETTINGS_FIELDS))],
)
async def update_connect_settings(
    caller: Authenticated, body: ConnectSettingsRequest, context: Context
) -> JSONResponse:
    sent = body.model_fields_set
    apps: dict[str, tuple[str, str] | bool | None] = {}
    for platform in store.PLATFORMS:
        value = getattr(body, platform)
        apps[platform] = (
            None if platform not in sent else (False if value is None else (value.client_id, value.client_secret))
        )
    change = store.SettingsChange(apps=apps, return_urls=body.return_urls)
    async with context.db.write() as session:
        row = await store.update(session, caller.project_id, change, context.secrets, context.clock())
        return JSONResponse(store.settings_json(row, context.settings))


def _limiter(request: Request, context: AppContext) -> SlidingWindowLimiter:
    """Session creation per project; one limiter per API app, made on first use."""
    limiter = getattr(request.app.state, "connect_session_limiter", None)
    if limiter is None:
        limiter = SlidingWindowLimiter(context.settings.connect_session_rate_per_minute, lambda: context.clock())
        request.app.state.connect_session_limiter = limiter
    return limiter


@router.post(
    "/connect_sessions",
    operation_id="Create Connect Session",
    summary="Start a hosted connect session for one end user",
    description="Send the user's browser to `url`. It is single use and expires (15 minutes by default). The user "
    "comes back to `return_url` with `calendar_id` and `state`, or `error` and `state`.",
    status_code=201,
    response_model=ConnectSessionCreated,
    responses={400: {"description": "Invalid input"}, 429: {"description": "Rate limited"}},
    dependencies=[Depends(allowed_fields(CREATE_SESSION_FIELDS))],
)
async def create_connect_session(
    caller: Authenticated, request: Request, body: CreateConnectSessionRequest, context: Context
) -> JSONResponse:
    if not context.settings.disable_rate_limiting:
        wait = _limiter(request, context).check(caller.project_id)
        if wait is not None:
            raise throttled(wait)
    now = context.clock()
    async with context.db.write() as session:
        settings_row = await store.load(session, caller.project_id)
        configured = store.configured_platforms(settings_row)
        if body.return_url is not None and not store.return_url_allowed(settings_row, body.return_url):
            raise field_errors({"return_url": ["This URL is not among the project's return URLs."]})
        if body.platform is not None and body.platform not in configured:
            raise field_errors({"platform": ["The project has no OAuth app for this platform."]})
        if not configured:
            raise field_errors({"platform": ["The project has no OAuth app: set one in its connect settings."]})
        row, launch_token = await session_queries.create(
            session,
            caller.project_id,
            session_queries.NewSession(
                platform=body.platform,
                return_url=body.return_url,
                metadata=body.metadata,
                deduplication_key=body.deduplication_key,
                client_state=body.state,
            ),
            now,
            timedelta(seconds=context.settings.connect_session_ttl_seconds),
        )
        out = session_queries.session_json(row)
    url = store.public_base_url(context.settings) + session_queries.LAUNCH_PATH.format(token=launch_token)
    return JSONResponse({"id": out["id"], "url": url, "expires_at": out["expires_at"]}, status_code=201)


@router.get(
    "/connect_sessions/{object_id}",
    operation_id="Get Connect Session",
    summary="What became of a connect session",
    response_model=ConnectSessionOut,
    responses={404: {"description": "Connect session not found"}},
)
async def get_connect_session(caller: Authenticated, object_id: str, session: ReadSession) -> JSONResponse:
    row = await session_queries.get(session, caller.project_id, object_id)
    if row is None:
        raise not_found(SESSION_NOT_FOUND)
    return JSONResponse(session_queries.session_json(row))
