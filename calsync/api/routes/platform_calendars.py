"""`GET /api/v1/calendars/{id}/platform_calendars`: the account's calendars on the platform, so an application
can offer its user a choice of `platform_uuid` (a calsync addition)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter, Request

from calsync.api.auth import get_context
from calsync.api.dependencies import Authenticated, Context
from calsync.api.routes.common import AttendeeRoute
from calsync.api.schemas import PlatformCalendarList
from calsync.context import AppContext
from calsync.json_response import JSONResponse
from calsync.providers.base import DISCONNECTING_KINDS, ErrorKind, ProviderError
from calsync.providers.registry import make_provider
from calsync.store.models import Calendar
from calsync.store.queries import calendars as calendar_queries
from calsync.sync.tokens import cached_access_token, store_grant, stored_credentials
from calsync.web.errors import ApiError, not_found

router = APIRouter(prefix="/api/v1", tags=["Calendars"], route_class=AttendeeRoute)


def _http_client(request: Request) -> httpx.AsyncClient:
    client: httpx.AsyncClient | None = getattr(request.app.state, "provider_http", None)
    if client is None:
        client = httpx.AsyncClient(timeout=get_context(request).settings.provider_timeout_seconds, trust_env=False)
        request.app.state.provider_http = client
    return client


async def _access_token(context: AppContext, calendar: Calendar, request: Request, *, cached: bool = True) -> str:
    token = cached_access_token(context.secrets, calendar, context.clock()) if cached else None
    if token:
        return token
    provider = make_provider(calendar.platform, context.settings, _http_client(request), clock=context.clock)
    grant = await provider.refresh_access_token(stored_credentials(context.secrets, calendar))
    async with context.db.write() as session:
        row = await session.get(Calendar, calendar.id, with_for_update=True)
        if row is not None:
            store_grant(context.secrets, row, grant)
    return grant.access_token


def _platform_error(exc: ProviderError) -> ApiError:
    """Throttling is the platform's 429, passed on. A refusal of the calendar's own grant or app credentials (what
    disconnects a calendar: a revoked grant, a wrong client secret) is the calendar's state, not a failure of the
    platform: 409, fixed by PATCHing new credentials. Only the platform failing (outage, timeout, a reply we do not
    understand) is a 502."""
    body = {"error": exc.message, "code": exc.kind.value}
    if exc.kind is ErrorKind.THROTTLED:
        return ApiError(429, body, headers={"Retry-After": str(max(1, int(exc.retry_after or 30)))})
    if exc.kind in DISCONNECTING_KINDS:
        return ApiError(409, body)
    return ApiError(502, body)


@router.get(
    "/calendars/{object_id}/platform_calendars",
    operation_id="List Platform Calendars",
    response_model=PlatformCalendarList,
    summary="List the account's calendars on the platform (calsync addition)",
    responses={
        404: {"description": "Calendar not found"},
        409: {"description": "The platform refused the calendar's credentials (`code` says why): PATCH new ones"},
        429: {"description": "The platform throttled"},
        502: {"description": "The platform failed or is unreachable"},
    },
)
async def list_platform_calendars(
    request: Request, object_id: str, caller: Authenticated, context: Context
) -> JSONResponse:
    async with context.db.read() as session:
        calendar = await calendar_queries.get_calendar(session, caller.project_id, object_id)
    if calendar is None:
        raise not_found("Calendar not found")
    provider = make_provider(calendar.platform, context.settings, _http_client(request), clock=context.clock)
    try:
        try:
            found = await provider.list_calendars(await _access_token(context, calendar, request))
        except ProviderError as exc:
            if exc.status != 401:
                raise
            # The cached access token was refused early: refresh once (a dead grant then says so).
            found = await provider.list_calendars(await _access_token(context, calendar, request, cached=False))
    except ProviderError as exc:
        raise _platform_error(exc) from None
    results: list[dict[str, Any]] = [
        {
            "platform_uuid": item.id,
            "name": item.name,
            "is_primary": item.is_primary,
            "time_zone": item.time_zone,
            "can_edit": item.can_edit,
            "selected": (item.id == calendar.platform_uuid) or (calendar.platform_uuid is None and item.is_primary),
        }
        for item in found
    ]
    return JSONResponse({"results": results})
