"""`/api/v1/calendars`: the Attendee calendar resource."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from calsync.api.accounts import Connection, check_url, connection, provider_http, verify
from calsync.api.auth import Caller
from calsync.api.dependencies import Authenticated, Context, ReadSession
from calsync.api.routes.common import AttendeeRoute
from calsync.api.schemas import (
    PATCH_CREDENTIAL_FIELDS,
    CalendarOut,
    CreateCalendarRequest,
    PaginatedCalendarList,
    PatchCalendarRequest,
    create_fields,
    patch_fields,
)
from calsync.api.serializers import calendar_json
from calsync.calendars.removal import delete_calendar as delete_calendar_with_its_bots
from calsync.context import AppContext
from calsync.json_response import JSONResponse
from calsync.providers.base import Credentials
from calsync.providers.registry import USER_SERVER_PLATFORMS
from calsync.store.queries import calendars as calendar_queries
from calsync.store.queries.unique import DuplicateDeduplicationKey
from calsync.store.work_signal import notify_work_in_transaction
from calsync.sync.tokens import stored_credentials
from calsync.web.errors import ApiError, field_errors, not_found, throttled
from calsync.web.pagination import decode_cursor, page_envelope, seek_key

router = APIRouter(prefix="/api/v1", tags=["Calendars"], route_class=AttendeeRoute)

CALENDAR_PAGE_SIZE = 25
CALENDARS_ORDERING = "-created_at"
CALENDAR_NOT_FOUND = "Calendar not found"
DUPLICATE_KEY_MESSAGE = "A calendar with this deduplication key already exists in this project."


def _connection_of(body: CreateCalendarRequest) -> Connection:
    """The body's credentials as stored: Google's and Microsoft's as sent, the others mapped (calsync.api.accounts)."""
    if body.platform in USER_SERVER_PLATFORMS:
        server = body.url if body.platform == "ics" else (body.server_url or "")
        return connection(
            body.platform, username=body.username or "", password=body.password or "", server=server or ""
        )
    return Connection(
        body.platform,
        Credentials(
            client_id=body.client_id or "",
            client_secret=body.client_secret or "",
            refresh_token=body.refresh_token or "",
        ),
    )


async def _allowed_patch_fields(request: Request, object_id: str, caller: Authenticated, context: Context) -> None:
    """Which credential fields a PATCH may hold depends on the calendar's platform (a Google calendar's: as ever)."""
    async with context.db.read() as session:
        calendar = await calendar_queries.get_calendar(session, caller.project_id, object_id)
    request.state.allowed_fields = patch_fields(calendar.platform if calendar is not None else None)


async def _allowed_create_fields(request: Request) -> None:
    """Which fields the body may hold depends on its platform (Attendee's 'Unexpected field(s)' message)."""
    try:
        data = await request.json()
    except ValueError:
        data = None
    request.state.allowed_fields = create_fields(data)


def _enforce_create_rate_limit(request: Request, context: AppContext, caller: Caller) -> None:
    if context.settings.disable_rate_limiting:
        return
    wait = request.app.state.create_limiter.check(caller.project_id)
    if wait is not None:
        raise throttled(wait)


@router.get(
    "/calendars",
    operation_id="List Calendars",
    summary="List calendars",
    response_model=PaginatedCalendarList,
)
async def list_calendars(
    request: Request,
    caller: Authenticated,
    session: ReadSession,
    cursor: Annotated[str | None, Query(description="Opaque page cursor from `next`/`previous`")] = None,
    deduplication_key: Annotated[str | None, Query(description="Exact match")] = None,
    state: Annotated[Literal["connected", "disconnected"] | None, Query()] = None,
    platform: Annotated[Literal["google", "microsoft", "caldav", "icloud", "ics"] | None, Query()] = None,
) -> JSONResponse:
    parsed = decode_cursor(cursor, CALENDARS_ORDERING)
    page = await calendar_queries.list_calendars(
        session,
        caller.project_id,
        calendar_queries.CalendarFilters(deduplication_key=deduplication_key, state=state, platform=platform),
        after=seek_key(parsed),
        backwards=parsed.backwards if parsed else False,
        limit=CALENDAR_PAGE_SIZE,
    )
    return JSONResponse(page_envelope(request, page, CALENDARS_ORDERING, [calendar_json(c) for c in page.rows]))


@router.post(
    "/calendars",
    operation_id="Create Calendar",
    summary="Create a new calendar",
    description="After being created, the calendar will be connected to the specified calendar platform.",
    status_code=201,
    response_model=CalendarOut,
    responses={
        400: {"description": "Invalid input, or the server refused the credentials or the URL (caldav, icloud, ics)"},
        429: {"description": "Rate limited, or the calendar's server throttled the check"},
        502: {"description": "The calendar's server failed or is unreachable (caldav, icloud, ics)"},
    },
    dependencies=[Depends(_allowed_create_fields)],
)
async def create_calendar(
    request: Request, body: CreateCalendarRequest, caller: Authenticated, context: Context
) -> JSONResponse:
    _enforce_create_rate_limit(request, context, caller)
    account = _connection_of(body)
    if body.platform in USER_SERVER_PLATFORMS:
        if account.credentials.refresh_token:
            check_url(context, body.platform, account.credentials.refresh_token)
        await verify(context, provider_http(request, context), account, body.platform_uuid)
    credentials = context.secrets.encrypt_json(account.secrets)
    now = context.clock()
    try:
        async with context.db.write() as session:
            calendar = await calendar_queries.create_calendar(
                session,
                caller.project_id,
                calendar_queries.NewCalendar(
                    platform=body.platform,
                    client_id=account.credentials.client_id,
                    encrypted_credentials=credentials,
                    platform_uuid=body.platform_uuid,
                    deduplication_key=body.deduplication_key,
                    metadata=body.metadata,
                    account_key=account.account_key,
                ),
                now,
            )
            await notify_work_in_transaction(session)
    except DuplicateDeduplicationKey:
        raise field_errors({"deduplication_key": [DUPLICATE_KEY_MESSAGE]}) from None
    context.work_signal.kick()
    return JSONResponse(calendar_json(calendar), status_code=201)


@router.get(
    "/calendars/{object_id}",
    operation_id="Get Calendar",
    summary="Get a calendar",
    response_model=CalendarOut,
    responses={404: {"description": "Calendar not found"}},
)
async def get_calendar(object_id: str, caller: Authenticated, session: ReadSession) -> JSONResponse:
    calendar = await calendar_queries.get_calendar(session, caller.project_id, object_id)
    if calendar is None:
        raise not_found(CALENDAR_NOT_FOUND)
    return JSONResponse(calendar_json(calendar))


@router.patch(
    "/calendars/{object_id}",
    operation_id="Update Calendar",
    summary="Update a calendar's credentials or metadata",
    description="Always schedules an immediate sync: after the user re-authorises, PATCH the new refresh token "
    "to reconnect a disconnected calendar. The response shows the calendar before that sync runs.",
    response_model=CalendarOut,
    responses={
        400: {"description": "Invalid input, or the server refused the new credentials (caldav, icloud, ics)"},
        404: {"description": "Calendar not found"},
        429: {"description": "The calendar's server throttled the check"},
        502: {"description": "The calendar's server failed or is unreachable (caldav, icloud, ics)"},
    },
    dependencies=[Depends(_allowed_patch_fields)],
)
async def patch_calendar(
    request: Request, object_id: str, body: PatchCalendarRequest, caller: Authenticated, context: Context
) -> JSONResponse:
    sent = body.model_fields_set
    reconnected = await _checked_reconnection(request, context, caller, object_id, body)
    now = context.clock()
    async with context.db.write() as session:
        calendar = await calendar_queries.get_calendar(session, caller.project_id, object_id, for_update=True)
        if calendar is None:
            raise not_found(CALENDAR_NOT_FOUND)
        changes: dict[str, Any] = {}
        new_secrets: dict[str, str] = {
            name: getattr(body, name) for name in ("client_secret", "refresh_token") if name in sent
        }
        if reconnected is not None:
            new_secrets = reconnected.secrets
            changes["client_id"] = reconnected.credentials.client_id
            changes["account_key"] = reconnected.account_key
        if new_secrets:
            # Merge into the stored credentials: only the keys sent are replaced (as Attendee does).
            stored = context.secrets.decrypt_json(calendar.encrypted_credentials)
            stored.update(new_secrets)
            changes["encrypted_credentials"] = context.secrets.encrypt_json(stored)
            # A cached access token belongs to the old grant.
            changes["encrypted_access_token"] = None
            changes["access_token_expires_at"] = None
        if "metadata" in sent:
            changes["metadata_"] = body.metadata
        calendar_queries.apply_patch(calendar, changes, now)
        calendar_queries.mark_due(calendar, "patched", now)
        await notify_work_in_transaction(session)
    context.work_signal.kick()
    return JSONResponse(calendar_json(calendar))


async def _checked_reconnection(
    request: Request, context: AppContext, caller: Caller, object_id: str, body: PatchCalendarRequest
) -> Connection | None:
    """A CalDAV password or an ICS address sent in a PATCH, proven against the server before it is stored (None:
    nothing of the kind was sent). Each platform takes its own credential fields only."""
    sent = body.model_fields_set & set(PATCH_CREDENTIAL_FIELDS)
    if not sent:
        return None
    async with context.db.read() as session:
        calendar = await calendar_queries.get_calendar(session, caller.project_id, object_id)
    if calendar is None:
        raise not_found(CALENDAR_NOT_FOUND)
    allowed = patch_fields(calendar.platform)
    refused = sorted(sent - set(allowed))
    if refused:
        # Another platform's credential field is an unknown field, in the validation handler's words.
        raise ApiError(
            400,
            {
                "non_field_errors": [
                    f"Unexpected field(s): {', '.join(refused)}. Allowed fields are: {', '.join(sorted(allowed))}"
                ]
            },
        )
    if calendar.platform not in USER_SERVER_PLATFORMS:
        return None
    stored = stored_credentials(context.secrets, calendar)
    if calendar.platform == "ics":
        assert body.url is not None
        check_url(context, "ics", body.url)
        account = connection("ics", username="", password="", server=body.url)
    else:
        assert body.password is not None
        account = connection(
            calendar.platform, username=stored.client_id, password=body.password, server=stored.refresh_token
        )
    await verify(context, provider_http(request, context), account, calendar.platform_uuid)
    return account


@router.delete(
    "/calendars/{object_id}",
    response_class=Response,
    operation_id="Delete Calendar",
    summary="Delete a calendar and its events",
    responses={200: {"description": "Deleted (empty body, as the anchor)"}, 404: {"description": "Calendar not found"}},
)
async def delete_calendar(object_id: str, caller: Authenticated, context: Context) -> Response:
    async with context.db.write() as session:
        calendar = await calendar_queries.get_calendar(session, caller.project_id, object_id, for_update=True)
        if calendar is None:
            raise not_found(CALENDAR_NOT_FOUND)
        await delete_calendar_with_its_bots(session, context.hooks, calendar, context.clock())
    context.work_signal.kick()
    return Response(status_code=200)


@router.post(
    "/calendars/{object_id}/sync",
    operation_id="Sync Calendar",
    summary="Sync a calendar now (calsync addition)",
    description="Marks the calendar due immediately; a worker picks it up within moments. Also reconnects a "
    "disconnected calendar once its credentials are valid again.",
    status_code=202,
    response_model=CalendarOut,
    responses={404: {"description": "Calendar not found"}},
)
async def sync_calendar_now(object_id: str, caller: Authenticated, context: Context) -> JSONResponse:
    async with context.db.write() as session:
        calendar = await calendar_queries.get_calendar(session, caller.project_id, object_id, for_update=True)
        if calendar is None:
            raise not_found(CALENDAR_NOT_FOUND)
        calendar_queries.mark_due(calendar, "requested", context.clock())
        await notify_work_in_transaction(session)
    context.work_signal.kick()
    return JSONResponse(calendar_json(calendar), status_code=202)
