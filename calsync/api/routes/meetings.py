"""`/api/v1/meetings`: one real meeting as seen on the project's calendars, its bot and why (docs/bots.md), and the
overrides (`PUT …/bot_override` on a meeting, `PUT /api/v1/calendar_events/{id}/series_bot_override` on a series)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import delete, select

from calsync.api.dependencies import Authenticated, Context, ReadSession
from calsync.api.meeting_schemas import (
    BotOverrideRequest,
    MeetingOut,
    PaginatedMeetingList,
    SeriesOverrideOut,
)
from calsync.api.routes.common import AttendeeRoute, allowed_fields, datetime_query
from calsync.json_response import JSONResponse
from calsync.meetings import overrides, queries
from calsync.meetings.evaluate import evaluate_meetings
from calsync.meetings.serialize import meeting_json
from calsync.store.models import Calendar, CalendarEvent, SeriesOverride
from calsync.web.datetimes import parse_query_datetime
from calsync.web.errors import ApiError, bad_query, not_found
from calsync.web.pagination import decode_cursor, page_envelope, seek_key

router = APIRouter(prefix="/api/v1", tags=["Meetings"], route_class=AttendeeRoute)

MEETING_PAGE_SIZE = 25
MEETING_NOT_FOUND = "Meeting not found"
OVERRIDE_FIELDS = ("bot_override",)


def _datetime_param(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = parse_query_datetime(value)
    if parsed is None:
        raise bad_query(
            f"Invalid {name} format. Use ISO 8601 format (e.g., 2025-01-13T10:30:00Z)", "invalid_datetime", name
        )
    return parsed


@router.get(
    "/meetings",
    operation_id="List Meetings",
    summary="List meetings",
    description="The meetings of the synced window by start time, 25 per page (no default window). A meeting is "
    "one real meeting as seen on the project's calendars: its `events` are the copies on each calendar.",
    response_model=PaginatedMeetingList,
    responses={400: {"description": "Invalid parameter"}, 404: {"description": "Invalid cursor"}},
)
async def list_meetings(
    request: Request,
    caller: Authenticated,
    session: ReadSession,
    start_time_gte: Annotated[
        str | None, datetime_query("Meetings starting at or after this ISO 8601 datetime")
    ] = None,
    start_time_lte: Annotated[
        str | None, datetime_query("Meetings starting at or before this ISO 8601 datetime")
    ] = None,
    calendar_id: Annotated[str | None, Query(description="A `cal_…` id: meetings with an event on it")] = None,
    has_bot: Annotated[Literal["true", "false"] | None, Query(description="Whether a live bot serves it")] = None,
    meeting_platform: Annotated[str | None, Query(description="e.g. google_meet, zoom, microsoft_teams")] = None,
    cursor: Annotated[str | None, Query(description="Opaque page cursor from `next`/`previous`")] = None,
) -> JSONResponse:
    filters = queries.MeetingFilters(
        start_time_gte=_datetime_param("start_time_gte", start_time_gte),
        start_time_lte=_datetime_param("start_time_lte", start_time_lte),
        calendar_object_id=calendar_id,
        has_bot=None if has_bot is None else has_bot == "true",
        meeting_platform=meeting_platform,
    )
    parsed = decode_cursor(cursor, queries.ORDERING)
    page = await queries.list_meetings(
        session,
        caller.project_id,
        filters,
        after=seek_key(parsed),
        backwards=parsed.backwards if parsed else False,
        limit=MEETING_PAGE_SIZE,
    )
    bots = await queries.bots_by_id(session, caller.project_id, [m.bot_object_id for m in page.rows])
    results = [meeting_json(m, bots.get(m.bot_object_id or "")) for m in page.rows]
    return JSONResponse(page_envelope(request, page, queries.ORDERING, results))


@router.get(
    "/meetings/{object_id}",
    operation_id="Get Meeting",
    summary="Get a meeting",
    response_model=MeetingOut,
    responses={404: {"description": "Meeting not found"}},
)
async def get_meeting(object_id: str, caller: Authenticated, session: ReadSession) -> JSONResponse:
    meeting = await queries.get_meeting(session, caller.project_id, object_id)
    if meeting is None:
        raise not_found(MEETING_NOT_FOUND)
    bots = await queries.bots_by_id(session, caller.project_id, [meeting.bot_object_id])
    return JSONResponse(meeting_json(meeting, bots.get(meeting.bot_object_id or "")))


@router.put(
    "/meetings/{object_id}/bot_override",
    operation_id="Set Meeting Bot Override",
    summary="Override the rules for one meeting",
    description="`always`: the meeting gets a bot whatever the rules say (it needs a meeting URL); `never`: it gets "
    "none (a live bot is cancelled, `bot_override_never`); null: the rules decide again. Answers with the meeting "
    "as re-evaluated.",
    response_model=MeetingOut,
    responses={400: {"description": "Invalid input"}, 404: {"description": "Meeting not found"}},
    dependencies=[Depends(allowed_fields(OVERRIDE_FIELDS))],
)
async def put_meeting_override(
    object_id: str, body: BotOverrideRequest, caller: Authenticated, context: Context
) -> JSONResponse:
    async with context.db.write() as session:
        outcome = await overrides.set_bot_override(
            session,
            caller.project_id,
            object_id,
            body.bot_override,
            context.clock(),
            stand_down=timedelta(seconds=context.settings.bot_stand_down_seconds),
            default_lead=context.settings.bot_dispatch_lead_seconds,
        )
    if outcome is None:
        raise not_found(MEETING_NOT_FOUND)
    if outcome.wake:
        context.work_signal.kick()
    if outcome.meeting is None:
        raise not_found(MEETING_NOT_FOUND)  # (its last event went meanwhile)
    return JSONResponse(meeting_json(outcome.meeting, outcome.bot))


@router.put(
    "/calendar_events/{object_id}/series_bot_override",
    operation_id="Set Series Bot Override",
    summary="Override the rules for every instance of a recurring series on one calendar",
    description="The same body as a meeting's override, for every instance of this event's `recurring_event_id` on "
    "its calendar, now and as new instances sync. A meeting's own override wins over its series'.",
    response_model=SeriesOverrideOut,
    responses={
        400: {"description": "Invalid input, or the event is not an instance of a recurring series"},
        404: {"description": "Calendar event not found"},
    },
    dependencies=[Depends(allowed_fields(OVERRIDE_FIELDS))],
)
async def put_series_override(
    object_id: str, body: BotOverrideRequest, caller: Authenticated, context: Context
) -> JSONResponse:
    async with context.db.write() as session:
        now = context.clock()
        statement = (
            select(CalendarEvent, Calendar)
            .join(Calendar, Calendar.id == CalendarEvent.calendar_id)
            .where(
                CalendarEvent.project_id == caller.project_id,
                CalendarEvent.object_id == object_id,
                Calendar.deleted_at.is_(None),
            )
        )
        row = (await session.execute(statement)).first()
        if row is None:
            raise not_found("Calendar event not found")
        event, calendar = row
        series = event.recurring_event_id
        if not series:
            raise ApiError(
                400,
                {
                    "error": f"Calendar event with id {object_id} is not an instance of a recurring series.",
                    "code": "not_recurring",
                },
            )
        await session.execute(
            delete(SeriesOverride).where(
                SeriesOverride.calendar_id == calendar.id, SeriesOverride.recurring_event_id == series
            )
        )
        if body.bot_override is not None:
            session.add(
                SeriesOverride(
                    project_id=caller.project_id,
                    calendar_id=calendar.id,
                    recurring_event_id=series,
                    bot_override=body.bot_override,
                    created_at=now,
                )
            )
        instances = await session.execute(
            select(CalendarEvent.meeting_object_id)
            .where(
                CalendarEvent.calendar_id == calendar.id,
                CalendarEvent.recurring_event_id == series,
                CalendarEvent.is_deleted.is_(False),
                CalendarEvent.meeting_object_id.is_not(None),
            )
            .distinct()
        )
        meeting_ids = [meeting_id for meeting_id in instances.scalars() if meeting_id]
        wake = await evaluate_meetings(
            session,
            caller.project_id,
            meeting_ids,
            now,
            stand_down=timedelta(seconds=context.settings.bot_stand_down_seconds),
            default_lead=context.settings.bot_dispatch_lead_seconds,
        )
    if wake:
        context.work_signal.kick()
    return JSONResponse(
        {
            "calendar_id": calendar.object_id,
            "recurring_event_id": series,
            "bot_override": body.bot_override,
            "meetings": len(meeting_ids),
        }
    )
