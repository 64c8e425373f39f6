"""The meetings list (by start time, filtered), a meeting's page with its decision and the override buttons, the
bot rules list and a rule's page (read-only)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.dashboard.meetings import queries, views
from calsync.dashboard.session import Operator
from calsync.dashboard.web import (
    DashboardError,
    checked_form,
    not_found,
    page_links,
    redirect,
    render,
    signed_in,
    state_of,
)
from calsync.meetings import overrides, queue, rule_store
from calsync.meetings import queries as meeting_queries
from calsync.store.models import BotRule
from calsync.web.pagination import decode_cursor, seek_key

router = APIRouter()

MEETING_PAGE_SIZE = 50
RULE_PAGE_SIZE = 25
# The override form's choices: "clear" is the API's null (the rules decide again).
OVERRIDE_CHOICES = {"always": "always", "never": "never", "clear": None}


@router.get("/meetings")
async def list_meetings(request: Request, operator: Annotated[Operator, Depends(signed_in)]) -> Response:
    """As `GET /api/v1/meetings`: the synced window by start time (one index range per filter), keyset pages."""
    state = state_of(request)
    now = state.context.clock()
    filters = views.list_filters(request.query_params)
    cursor = decode_cursor(request.query_params.get("cursor"), meeting_queries.ORDERING)
    async with state.context.db.read() as session:
        page = await meeting_queries.list_meetings(
            session,
            operator.project_id,
            meeting_queries.MeetingFilters(
                start_time_gte=filters.start_from(now),
                calendar_object_id=filters.calendar_id,
                has_bot=views.HAS_BOT.get(filters.has_bot or ""),
                meeting_platform=filters.platform,
            ),
            after=seek_key(cursor),
            backwards=cursor.backwards if cursor else False,
            limit=MEETING_PAGE_SIZE,
        )
        bots = await meeting_queries.bots_by_id(session, operator.project_id, [m.bot_object_id for m in page.rows])
        rules = await queries.rules_by_id(
            session, operator.project_id, [(m.decision or {}).get("rule_id") for m in page.rows]
        )
    next_link, previous_link = page_links(request, page, meeting_queries.ORDERING)
    return render(
        request,
        "meetings.html",
        title="Meetings",
        now=now,
        meetings=[(m, bots.get(m.bot_object_id or ""), views.decision(m, rules)) for m in page.rows],
        filters=filters,
        when_choices=views.WHEN,
        platforms=views.PLATFORM_CHOICES,
        next_link=next_link,
        previous_link=previous_link,
        **views.HELPERS,
    )


@router.get("/meetings/{object_id}")
async def meeting_page(request: Request, object_id: str, operator: Annotated[Operator, Depends(signed_in)]) -> Response:
    state = state_of(request)
    async with state.context.db.read() as session:
        meeting = await meeting_queries.get_meeting(session, operator.project_id, object_id)
        if meeting is None:
            raise not_found("Meeting")
        bots = await meeting_queries.bots_by_id(session, operator.project_id, [meeting.bot_object_id])
        stored = meeting.decision if isinstance(meeting.decision, dict) else {}
        rule_ids = [stored.get("rule_id"), *(r.get("rule_id") for r in stored.get("reasons") or [])]
        rules = await queries.rules_by_id(session, operator.project_id, rule_ids)
        members = meeting.events if isinstance(meeting.events, list) else []
        events = await queries.events_by_id(session, operator.project_id, [str(m.get("event_id")) for m in members])
    return render(
        request,
        "meeting.html",
        title=meeting.name or meeting.object_id,
        now=state.context.clock(),
        meeting=meeting,
        bot=bots.get(meeting.bot_object_id or ""),
        decision=views.decision(meeting, rules),
        members=[(member, events.get(str(member.get("event_id")))) for member in members],
        **views.HELPERS,
    )


@router.post("/meetings/{object_id}/bot_override")
async def set_override(request: Request, object_id: str, operator: Annotated[Operator, Depends(signed_in)]) -> Response:
    """As `PUT /api/v1/meetings/{id}/bot_override` (the same function, calsync.meetings.overrides): the meeting
    is re-evaluated in the same transaction, so the page it redirects to shows the outcome."""
    form = await checked_form(request, operator)
    choice = form.get("bot_override", "")
    if choice not in OVERRIDE_CHOICES:
        raise DashboardError(400, "Unknown override", "The override is always, never or clear.")
    context = state_of(request).context
    async with context.db.write() as session:
        outcome = await overrides.set_bot_override(
            session,
            operator.project_id,
            object_id,
            OVERRIDE_CHOICES[choice],
            context.clock(),
            stand_down=timedelta(seconds=context.settings.bot_stand_down_seconds),
            default_lead=context.settings.bot_dispatch_lead_seconds,
        )
    if outcome is None:
        raise not_found("Meeting")
    if outcome.wake:
        context.work_signal.kick()
    if outcome.meeting is None:
        raise not_found("Meeting")  # its last event went meanwhile
    return redirect(request, f"/meetings/{object_id}", notice="meeting_override_set")


@router.get("/rules")
async def list_rules(request: Request, operator: Annotated[Operator, Depends(signed_in)]) -> Response:
    """As `GET /api/v1/bot_rules`: oldest first, keyset pages, each with its re-evaluation's progress."""
    state = state_of(request)
    cursor = decode_cursor(request.query_params.get("cursor"), rule_store.ORDERING)
    async with state.context.db.read() as session:
        page = await rule_store.list_rules(
            session,
            operator.project_id,
            after=seek_key(cursor),
            backwards=cursor.backwards if cursor else False,
            limit=RULE_PAGE_SIZE,
        )
        # One count per rule of the page (the queue's rule index), as the API's list does.
        progress = [await _progress(session, rule) for rule in page.rows]
    next_link, previous_link = page_links(request, page, rule_store.ORDERING)
    return render(
        request,
        "rules.html",
        title="Bot rules",
        now=state.context.clock(),
        rules=list(zip(page.rows, progress, strict=True)),
        next_link=next_link,
        previous_link=previous_link,
        **views.HELPERS,
    )


@router.get("/rules/{object_id}")
async def rule_page(request: Request, object_id: str, operator: Annotated[Operator, Depends(signed_in)]) -> Response:
    state = state_of(request)
    async with state.context.db.read() as session:
        rule = await rule_store.get_rule(session, operator.project_id, object_id)
        if rule is None:
            raise not_found("Rule")
        progress = await _progress(session, rule)
    return render(
        request,
        "rule.html",
        title=f"Rule {rule.name}",
        now=state.context.clock(),
        rule=rule,
        progress=progress,
        **views.HELPERS,
    )


async def _progress(session: AsyncSession, rule: BotRule) -> views.Progress:
    left = await queue.remaining(session, rule.object_id)
    return views.Progress(rule.evaluation_total, left, rule.evaluation_started_at)
