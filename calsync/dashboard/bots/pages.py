"""The bots list (upcoming dispatches on a timeline, filtered by state), a bot's page, and Cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from calsync.bots import queries as bot_queries
from calsync.bots import rules
from calsync.dashboard import queries
from calsync.dashboard.bots import views
from calsync.dashboard.charts import timeline
from calsync.dashboard.session import Operator
from calsync.dashboard.web import checked_form, not_found, page_links, redirect, render, signed_in, state_of
from calsync.meetings import manual
from calsync.web.pagination import decode_cursor, seek_key
from calsync.webhooks import queries as webhook_queries

router = APIRouter()

BOT_PAGE_SIZE = 100  # a timeline's worth; the API's keyset pages beyond
DELIVERIES_SHOWN = 20


@router.get("/bots")
async def list_bots(request: Request, operator: Annotated[Operator, Depends(signed_in)]) -> Response:
    """As `GET /api/v1/bots`: upcoming windows are `join_at_gte/lte` in `join_at` order (one index range, and the
    timeline's order), "all" is newest first."""
    state = state_of(request)
    now = state.context.clock()
    filters = views.list_filters(request.query_params)
    window = filters.join_range(now)
    ordering = "join_at" if window is not None else "-created_at"
    cursor = decode_cursor(request.query_params.get("cursor"), ordering)
    async with state.context.db.read() as session:
        page = await bot_queries.list_bots(
            session,
            operator.project_id,
            bot_queries.BotFilters(
                state=filters.state,
                calendar_object_id=filters.calendar_id,
                join_at_gte=window[0] if window else None,
                join_at_lte=window[1] if window else None,
            ),
            ordering=ordering,
            after=seek_key(cursor),
            backwards=cursor.backwards if cursor else False,
            limit=BOT_PAGE_SIZE,
        )
        events = await bot_queries.events_of_bots(session, operator.project_id, page.rows)
    chart = None
    if window is not None and filters.days is not None and page.rows:
        items = views.timeline_items(page.rows, events)
        chart = timeline(items, {}, window[0], filters.days, now, tick_hours=3 if filters.days == 1 else 24)
    next_link, previous_link = page_links(request, page, ordering)
    return render(
        request,
        "bots.html",
        title="Bots",
        now=now,
        bots=[(bot, events.get(bot.event_id) if bot.event_id is not None else None) for bot in page.rows],
        filters=filters,
        window=window,
        timeline=chart,
        states=views.STATES,
        windows=views.WINDOWS,
        next_link=next_link,
        previous_link=previous_link,
        by_id={bot.object_id: bot for bot in page.rows},
        **views.HELPERS,
    )


@router.get("/bots/{object_id}")
async def bot_page(request: Request, object_id: str, operator: Annotated[Operator, Depends(signed_in)]) -> Response:
    state = state_of(request)
    async with state.context.db.read() as session:
        bot = await bot_queries.get_bot(session, operator.project_id, object_id)
        if bot is None:
            raise not_found("Bot")
        events = await bot_queries.events_of_bots(session, operator.project_id, [bot])
        subscriptions = await queries.all_subscriptions(session, operator.project_id)
        deliveries = await queries.recent_deliveries(
            session, subscriptions, webhook_queries.DeliveryFilters(bot_object_id=bot.object_id), DELIVERIES_SHOWN
        )
    return render(
        request,
        "bot.html",
        title=f"Bot {bot.object_id}",
        now=state.context.clock(),
        bot=bot,
        event=events.get(bot.event_id) if bot.event_id is not None else None,
        deliveries=deliveries,
        has_webhooks=bool(subscriptions),
        changes_of=queries.delivery_changes,
        **views.HELPERS,
    )


@router.post("/bots/{object_id}/cancel")
async def cancel(request: Request, object_id: str, operator: Annotated[Operator, Depends(signed_in)]) -> Response:
    """As `DELETE /api/v1/bots/{id}` (the same function): cancelled for good; a dispatched bot's runner
    is told by `bot.state_change` to pull it out."""
    await checked_form(request, operator)
    context = state_of(request).context
    async with context.db.write() as session:
        cancelled = await manual.cancel_bot(
            session, operator.project_id, object_id, context.clock(), rules.CANCELLED_FROM_DASHBOARD
        )
        if cancelled is None:
            raise not_found("Bot")
    context.work_signal.kick()
    return redirect(request, f"/bots/{object_id}", notice="bot_cancelled")
