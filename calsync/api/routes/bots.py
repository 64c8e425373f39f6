"""`/api/v1/bots`: meeting bots, Attendee's contract where it has one (docs/bots.md).

calsync does not join meetings: a bot is dispatched to the application's runner by webhook (calsync.bots). A bot
created from a calendar event follows it (join time, meeting URL, cancellation) until its meeting is over.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from calsync.api.bot_responses import BotOut, BotState, PaginatedBotList
from calsync.api.bot_schemas import CREATE_BOT_FIELDS, PATCH_BOT_FIELDS, CreateBotRequest, PatchBotRequest
from calsync.api.dependencies import Authenticated, Context, ReadSession
from calsync.api.routes.common import AttendeeRoute, allowed_fields, datetime_query
from calsync.bots import lifecycle, rules
from calsync.bots import queries as bot_queries
from calsync.bots.payloads import bot_json
from calsync.context import AppContext
from calsync.json_response import JSONResponse
from calsync.meetings import manual
from calsync.providers.meeting_urls import find_meeting_url
from calsync.store.models import Bot, Calendar, CalendarEvent, CalendarState
from calsync.store.queries.unique import DuplicateDeduplicationKey
from calsync.store.work_signal import notify_work_in_transaction
from calsync.web.datetimes import parse_query_datetime
from calsync.web.errors import ApiError, bad_query, field_errors, not_found
from calsync.web.pagination import decode_cursor, page_envelope, seek_key

router = APIRouter(prefix="/api/v1", tags=["Bots"], route_class=AttendeeRoute)

BOT_PAGE_SIZE = 25
BOT_NOT_FOUND = "Bot not found"
# Attendee's messages (bots_api_utils.py), verbatim.
EVENT_NOT_FOUND = "Calendar event with id {id} does not exist in this project."
MEETING_URL_WITH_EVENT = (
    "meeting_url should not be provided when calendar_event_id is specified. "
    "The meeting URL will be taken from the calendar event."
)
JOIN_AT_WITH_EVENT = (
    "join_at should not be provided when calendar_event_id is specified. "
    "The join time will be taken from the calendar event."
)
DUPLICATE_KEY = (
    "Deduplication key already in use. A bot in a non-terminal state with this deduplication key already exists. "
    "Please use a different deduplication key or wait for that bot to terminate."
)
JOIN_AT_IN_PAST = "join_at cannot be in the past"
INVALID_MEETING_URL = "Invalid meeting URL"


def bot_error(message: str, code: str) -> ApiError:
    return ApiError(400, {"error": message, "code": code})


def _check_event(event: CalendarEvent, calendar: Calendar, offset: timedelta, now: datetime) -> None:
    """An event a bot can follow: live, with a meeting URL, of a connected calendar, not started (the bot's join
    time and the meeting's start both in the past)."""
    if event.is_deleted:
        raise bot_error(f"Calendar event with id {event.object_id} is deleted.", "calendar_event_deleted")
    if not event.meeting_url:
        raise bot_error(
            f"Calendar event with id {event.object_id} has no meeting URL.", "calendar_event_without_meeting_url"
        )
    if calendar.state != CalendarState.CONNECTED.value:
        raise bot_error(
            f"The calendar {calendar.object_id} of calendar event {event.object_id} is disconnected; "
            "reconnect it first (PATCH /api/v1/calendars/{id}).",
            "calendar_disconnected",
        )
    if rules.too_late(event.start_time + offset, event.start_time, now):
        raise bot_error(f"Calendar event with id {event.object_id} has already started.", "calendar_event_started")


def _meeting_url(value: str) -> str:
    """A recognised meeting link, normalised as the sync normalises events' links (Attendee's rule)."""
    link = find_meeting_url(value)
    if link is None:
        raise field_errors({"meeting_url": [INVALID_MEETING_URL]})
    return link.url


def _lead(context: AppContext, value: int | None) -> int:
    return context.settings.bot_dispatch_lead_seconds if value is None else value


@router.post(
    "/bots",
    operation_id="Create Bot",
    response_model=BotOut,
    summary="Create a bot",
    description="With `calendar_event_id`, the bot's join time (the event's start plus `join_offset_seconds`) and "
    "meeting URL follow the event. The runner is told to launch it by a `bot.dispatch` webhook "
    "`dispatch_lead_seconds` before its join time.",
    status_code=201,
    responses={400: {"description": "Invalid input"}},
    dependencies=[Depends(allowed_fields(CREATE_BOT_FIELDS))],
)
async def create_bot(body: CreateBotRequest, caller: Authenticated, context: Context) -> JSONResponse:
    sent = body.model_fields_set
    lead = _lead(context, body.dispatch_lead_seconds)
    offset = body.join_offset_seconds or 0
    if body.calendar_event_id is None:
        if "join_offset_seconds" in sent:
            raise bot_error(
                "join_offset_seconds can only be given with calendar_event_id.", "join_offset_without_event"
            )
        if body.meeting_url is None:
            raise field_errors({"meeting_url": ["This field is required."]})
        meeting_url = _meeting_url(body.meeting_url)
    try:
        async with context.db.write() as session:
            now = context.clock()
            calendar: Calendar | None = None
            event: CalendarEvent | None = None
            if body.calendar_event_id is not None:
                found = await bot_queries.event_to_follow(session, caller.project_id, body.calendar_event_id)
                if found is None:
                    raise bot_error(EVENT_NOT_FOUND.format(id=body.calendar_event_id), "calendar_event_not_found")
                if "meeting_url" in sent:
                    raise bot_error(MEETING_URL_WITH_EVENT, "meeting_url_with_calendar_event")
                if "join_at" in sent:
                    raise bot_error(JOIN_AT_WITH_EVENT, "join_at_with_calendar_event")
                event, calendar = found
                _check_event(event, calendar, timedelta(seconds=offset), now)
                assert event.meeting_url is not None
                meeting_url = event.meeting_url
                join_at, dispatch_at = rules.times(event.start_time, timedelta(seconds=offset), timedelta(seconds=lead))
            else:
                join_at = body.join_at or now
                if join_at < now:
                    raise field_errors({"join_at": [JOIN_AT_IN_PAST]})
                dispatch_at = join_at - timedelta(seconds=lead)
            bot = await bot_queries.create_bot(
                session,
                caller.project_id,
                bot_queries.NewBot(
                    meeting_url=meeting_url,
                    join_at=join_at,
                    dispatch_at=dispatch_at,
                    join_offset_seconds=offset,
                    dispatch_lead_seconds=lead,
                    bot_name=body.bot_name,
                    metadata=body.metadata,
                    deduplication_key=body.deduplication_key,
                    calendar=calendar,
                    event=event,
                ),
                now,
            )
            # One bot per meeting: the rules stand aside for this one.
            await manual.manual_bot_changed(session, bot, now)
            # Dispatchers in other processes re-read the next due time (this one may be due at once).
            await notify_work_in_transaction(session)
    except DuplicateDeduplicationKey:
        raise bot_error(DUPLICATE_KEY, "deduplication_key_in_use") from None
    context.work_signal.kick()
    return JSONResponse(bot_json(bot), status_code=201)


def _datetime_param(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = parse_query_datetime(value)
    if parsed is None:
        raise bad_query(f"Invalid {name} format. Use ISO 8601 format (e.g., 2025-01-13T10:30:00Z)", "invalid_datetime")
    return parsed


@router.get(
    "/bots",
    operation_id="List Bots",
    response_model=PaginatedBotList,
    summary="List bots",
    description="Newest first by default, 25 per page. `ordering=join_at` lists them in joining order.",
    responses={400: {"description": "Invalid parameter"}, 404: {"description": "Invalid cursor"}},
)
async def list_bots(
    request: Request,
    caller: Authenticated,
    session: ReadSession,
    state: Annotated[BotState | None, Query()] = None,
    calendar_id: Annotated[str | None, Query(description="A `cal_…` id (also after the calendar was deleted)")] = None,
    calendar_event_id: Annotated[str | None, Query(description="An `evt_…` id")] = None,
    join_at_gte: Annotated[str | None, datetime_query("Bots joining at or after this ISO 8601 datetime")] = None,
    join_at_lte: Annotated[str | None, datetime_query("Bots joining at or before this ISO 8601 datetime")] = None,
    deduplication_key: Annotated[str | None, Query(description="Exact match")] = None,
    ordering: Annotated[
        str | None,
        Query(description=", ".join(bot_queries.ORDERINGS), json_schema_extra={"enum": list(bot_queries.ORDERINGS)}),
    ] = None,
    cursor: Annotated[str | None, Query(description="Opaque page cursor from `next`/`previous`")] = None,
) -> JSONResponse:
    chosen = ordering or bot_queries.ORDERINGS[0]
    if chosen not in bot_queries.ORDERINGS:
        raise bad_query(f"Invalid ordering. Allowed values: {', '.join(bot_queries.ORDERINGS)}", "invalid_ordering")
    filters = bot_queries.BotFilters(
        state=state,
        calendar_object_id=calendar_id,
        event_object_id=calendar_event_id,
        join_at_gte=_datetime_param("join_at_gte", join_at_gte),
        join_at_lte=_datetime_param("join_at_lte", join_at_lte),
        deduplication_key=deduplication_key,
    )
    parsed = decode_cursor(cursor, chosen)
    page = await bot_queries.list_bots(
        session,
        caller.project_id,
        filters,
        ordering=chosen,
        after=seek_key(parsed),
        backwards=parsed.backwards if parsed else False,
        limit=BOT_PAGE_SIZE,
    )
    return JSONResponse(page_envelope(request, page, chosen, [bot_json(bot) for bot in page.rows]))


@router.get(
    "/bots/{object_id}",
    operation_id="Get Bot",
    response_model=BotOut,
    summary="Get a bot",
    responses={404: {"description": "Bot not found"}},
)
async def get_bot(object_id: str, caller: Authenticated, session: ReadSession) -> JSONResponse:
    bot = await bot_queries.get_bot(session, caller.project_id, object_id)
    if bot is None:
        raise not_found(BOT_NOT_FOUND)
    return JSONResponse(bot_json(bot))


TIMING_FIELDS = frozenset({"join_offset_seconds", "dispatch_lead_seconds", "join_at", "meeting_url"})


def _retime(
    changes: lifecycle.BotChanges,
    context: AppContext,
    bot: Bot,
    followed: tuple[CalendarEvent, Calendar] | None,
    body: PatchBotRequest,
    now: datetime,
) -> None:
    """Apply new timing (offsets, or a bot without an event's own join time and URL) as a move of its meeting
    would be: the same rules, the same webhooks. Checked first, so that nothing is written when it is refused."""
    sent = body.model_fields_set
    if bot.state in rules.ENDED:
        raise bot_error(f"The bot has ended ({bot.state}); its timing can no longer change.", "bot_ended")
    offset = body.join_offset_seconds if body.join_offset_seconds is not None else bot.join_offset_seconds
    lead = body.dispatch_lead_seconds if body.dispatch_lead_seconds is not None else bot.dispatch_lead_seconds
    connected, previous_end = True, None
    if followed is not None:
        event, calendar = followed
        meeting = lifecycle.event_meeting(event)
        connected, previous_end = calendar.state == CalendarState.CONNECTED.value, event.end_time
    else:
        start = body.join_at if body.join_at is not None else bot.join_at
        url = _meeting_url(body.meeting_url) if body.meeting_url is not None else bot.meeting_url
        if "join_at" in sent and start < now:
            raise field_errors({"join_at": [JOIN_AT_IN_PAST]})
        meeting = rules.Meeting(start, None, url)
    current = dataclasses.replace(
        lifecycle.facts(bot), join_offset=timedelta(seconds=offset), dispatch_lead=timedelta(seconds=lead)
    )
    join_at, _ = rules.times(meeting.start_time, current.join_offset, current.dispatch_lead)
    if bot.state != rules.DISPATCHED and rules.too_late(join_at, meeting.start_time, now):
        raise bot_error("With this timing the bot's join time and its meeting's start have both passed.", "too_late")
    stand_down = timedelta(seconds=context.settings.bot_stand_down_seconds)
    outcome = rules.follow(
        current, meeting, previous_end=previous_end, connected=connected, now=now, stand_down=stand_down
    )
    bot.join_offset_seconds, bot.dispatch_lead_seconds = offset, lead
    changes.apply(bot, outcome, now)


@router.patch(
    "/bots/{object_id}",
    operation_id="Update Bot",
    response_model=BotOut,
    summary="Update a bot's name, metadata or timing",
    description="A bot tied to a calendar event follows it: its `join_at` and `meeting_url` cannot be set (change "
    "`join_offset_seconds` instead). Timing changes are applied as an event move would be, with the same webhooks.",
    responses={400: {"description": "Invalid input"}, 404: {"description": "Bot not found"}},
    dependencies=[Depends(allowed_fields(PATCH_BOT_FIELDS))],
)
async def patch_bot(object_id: str, body: PatchBotRequest, caller: Authenticated, context: Context) -> JSONResponse:
    sent = body.model_fields_set
    for name in sent - {"metadata"}:
        if getattr(body, name) is None:
            raise field_errors({name: ["This field may not be null."]})
    async with context.db.write() as session:
        now = context.clock()
        found = await bot_queries.get_bot(session, caller.project_id, object_id)
        if found is None:
            raise not_found(BOT_NOT_FOUND)
        for name in ("join_at", "meeting_url"):
            if name in sent and found.event_object_id is not None:
                raise bot_error(
                    f"{name} cannot be changed for a bot tied to a calendar event: it follows the event "
                    "(change join_offset_seconds to join earlier or later).",
                    "follows_calendar_event",
                )
        if "join_offset_seconds" in sent and found.event_object_id is None:
            raise bot_error(
                "join_offset_seconds can only be given with calendar_event_id.", "join_offset_without_event"
            )
        timing = bool(TIMING_FIELDS & sent)
        followed = None
        if timing and found.event_object_id is not None and found.state not in rules.ENDED:
            # Lock order: the calendar (a share lock that holds its syncs off) before the bot.
            followed = await bot_queries.event_to_follow(session, caller.project_id, found.event_object_id)
            if followed is None:
                raise bot_error("The bot's calendar event no longer exists.", "bot_ended")
        bot = await lifecycle.lock_bot(session, caller.project_id, object_id)
        assert bot is not None
        changes = lifecycle.BotChanges(bot.project_id)
        if timing:
            _retime(changes, context, bot, followed, body, now)
        if "bot_name" in sent:
            bot.bot_name = body.bot_name
        if "metadata" in sent:
            bot.metadata_ = body.metadata
        if not changes.touched and sent & {"bot_name", "metadata"}:
            bot.updated_at = max(now, bot.updated_at + timedelta(microseconds=1))
        await changes.write(session, now)
    if changes.wake:
        context.work_signal.kick()
    return JSONResponse(bot_json(bot))


@router.delete(
    "/bots/{object_id}",
    operation_id="Delete Bot",
    response_model=BotOut,
    summary="Cancel a bot",
    description="The bot is cancelled, never deleted, and returned (200). If it was dispatched, the runner is told "
    "by `bot.state_change` so that it can pull the bot out.",
    responses={404: {"description": "Bot not found"}},
)
async def delete_bot(object_id: str, caller: Authenticated, context: Context) -> JSONResponse:
    async with context.db.write() as session:
        now = context.clock()
        cancelled = await manual.cancel_bot(session, caller.project_id, object_id, now, rules.CANCELLED_BY_REQUEST)
        if cancelled is None:
            raise not_found(BOT_NOT_FOUND)
        bot, _changes = cancelled
    context.work_signal.kick()
    return JSONResponse(bot_json(bot))
