"""Calendars: the filtered list, one calendar (its week on a timeline, sync state, push channels, recent changes
and webhooks), and its actions: sync now, delete."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from calsync.calendars.removal import delete_calendar as delete_calendar_with_its_bots
from calsync.dashboard import queries
from calsync.dashboard.charts import timeline
from calsync.dashboard.session import Operator
from calsync.dashboard.web import (
    calendar_problem,
    checked_form,
    fmt_span,
    not_found,
    page_links,
    panel_context,
    redirect,
    render,
    signed_in,
    state_of,
)
from calsync.store.models import Calendar
from calsync.store.queries import calendars as calendar_queries
from calsync.store.work_signal import notify_work_in_transaction
from calsync.web.pagination import decode_cursor, seek_key
from calsync.webhooks import queries as webhook_queries

router = APIRouter()

CALENDAR_PAGE_SIZE = 25  # as GET /api/v1/calendars
CALENDARS_ORDERING = "-created_at"
TIMELINE_DAYS = 7
TIMELINE_PAGE_SIZE = 100
TIMELINE_ORDERING = "start_time"
CHANGES_SHOWN = 20
DELIVERIES_SHOWN = 10
MAX_SEARCH_CHARS = 1024


def _search(request: Request) -> queries.CalendarSearch:
    params = request.query_params
    state = params.get("state") or None
    platform = params.get("platform") or None
    text = (params.get("q") or "").strip()[:MAX_SEARCH_CHARS] or None
    return queries.CalendarSearch(
        state=state if state in queries.CALENDAR_STATES else None,
        platform=platform if platform in queries.PLATFORMS else None,
        text=text,
        attention=params.get("attention") == "1",
    )


@router.get("/calendars")
async def list_calendars(request: Request, operator: Annotated[Operator, Depends(signed_in)]) -> Response:
    state = state_of(request)
    search = _search(request)
    cursor = decode_cursor(request.query_params.get("cursor"), CALENDARS_ORDERING)
    async with state.context.db.read() as session:
        page = await queries.search_calendars(
            session,
            operator.project_id,
            search,
            after=seek_key(cursor),
            backwards=cursor.backwards if cursor else False,
            limit=CALENDAR_PAGE_SIZE,
        )
    next_link, previous_link = page_links(request, page, CALENDARS_ORDERING)
    return render(
        request,
        "calendars.html",
        title="Calendars",
        now=state.context.clock(),
        calendars=[(c, calendar_problem(c)) for c in page.rows],
        search=search,
        states=queries.CALENDAR_STATES,
        platforms=queries.PLATFORMS,
        next_link=next_link,
        previous_link=previous_link,
    )


async def _calendar_or_404(session: Any, project_id: int, object_id: str, *, for_update: bool = False) -> Calendar:
    calendar = await calendar_queries.get_calendar(session, project_id, object_id, for_update=for_update)
    if calendar is None:
        raise not_found("Calendar")
    return calendar


@router.get("/calendars/{object_id}")
async def calendar_page(
    request: Request, object_id: str, operator: Annotated[Operator, Depends(signed_in)]
) -> Response:
    state = state_of(request)
    now = state.context.clock()
    cursor = decode_cursor(request.query_params.get("cursor"), TIMELINE_ORDERING)
    window_start = now.replace(minute=0, second=0, microsecond=0)
    async with state.context.db.read() as session:
        calendar = await _calendar_or_404(session, operator.project_id, object_id)
        channels = await queries.push_channels(session, calendar.id)
        upcoming = await queries.upcoming_events(
            session,
            operator.project_id,
            calendar.id,
            now,
            TIMELINE_DAYS,
            after=seek_key(cursor),
            backwards=cursor.backwards if cursor else False,
            limit=TIMELINE_PAGE_SIZE,
        )
        context = panel_context(request, operator)
        badges = await state.extensions.event_badges(session, context, [row.id for row in upcoming.rows])
        # Extensions (bots: the calendar's bots) add their sections after the week.
        panels = await state.extensions.calendar_panels(session, context, calendar)
        changes = await queries.recent_changes(session, operator.project_id, calendar.id, CHANGES_SHOWN)
        subscriptions = await queries.all_subscriptions(session, operator.project_id)
        deliveries = await queries.recent_deliveries(
            session,
            subscriptions,
            webhook_queries.DeliveryFilters(calendar_object_id=calendar.object_id),
            DELIVERIES_SHOWN,
        )
    next_link, previous_link = page_links(request, upcoming, TIMELINE_ORDERING)
    return render(
        request,
        "calendar.html",
        title=f"Calendar {calendar.object_id}",
        now=now,
        calendar=calendar,
        problem=calendar_problem(calendar),
        channels=channels,
        timeline=timeline(upcoming.rows, badges, window_start, TIMELINE_DAYS, now),
        timeline_days=TIMELINE_DAYS,
        show_badges=state.extensions.has_event_badges,
        next_link=next_link,
        previous_link=previous_link,
        changes=changes,
        deliveries=deliveries,
        has_webhooks=bool(subscriptions),
        changes_of=queries.delivery_changes,
        safety_net=fmt_span(timedelta(seconds=state.context.settings.push_safety_net_seconds)),
        panels=panels,
    )


@router.post("/calendars/{object_id}/sync")
async def sync_now(request: Request, object_id: str, operator: Annotated[Operator, Depends(signed_in)]) -> Response:
    """As `POST /api/v1/calendars/{id}/sync`: due now; a worker takes it within moments."""
    await checked_form(request, operator)
    context = state_of(request).context
    async with context.db.write() as session:
        calendar = await _calendar_or_404(session, operator.project_id, object_id, for_update=True)
        calendar_queries.mark_due(calendar, "requested", context.clock())
        await notify_work_in_transaction(session)
    context.work_signal.kick()
    return redirect(request, f"/calendars/{object_id}", notice="sync_requested")


@router.get("/calendars/{object_id}/delete")
async def confirm_delete(
    request: Request, object_id: str, operator: Annotated[Operator, Depends(signed_in)]
) -> Response:
    state = state_of(request)
    async with state.context.db.read() as session:
        calendar = await _calendar_or_404(session, operator.project_id, object_id)
    return render(request, "calendar_delete.html", title=f"Delete {calendar.object_id}", calendar=calendar, error=None)


@router.post("/calendars/{object_id}/delete")
async def delete(request: Request, object_id: str, operator: Annotated[Operator, Depends(signed_in)]) -> Response:
    """As `DELETE /api/v1/calendars/{id}`: the events go at once, push channels are stopped by a worker. The form
    repeats the calendar's id (typed by the operator) so a slip of the mouse cannot delete one."""
    form = await checked_form(request, operator)
    context = state_of(request).context
    if form.get("confirm_id", "").strip() != object_id:
        async with context.db.read() as session:
            calendar = await _calendar_or_404(session, operator.project_id, object_id)
        return render(
            request,
            "calendar_delete.html",
            status=400,
            title=f"Delete {calendar.object_id}",
            calendar=calendar,
            error="Type the calendar's id exactly to confirm.",
        )
    async with context.db.write() as session:
        calendar = await _calendar_or_404(session, operator.project_id, object_id, for_update=True)
        await delete_calendar_with_its_bots(session, context.hooks, calendar, context.clock())
    context.work_signal.kick()
    return redirect(request, "/calendars", notice="calendar_deleted")
