"""The overview: calendars by platform and state, what needs attention, webhook health, the last day's syncs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from calsync.dashboard import overview_counts, queries
from calsync.dashboard.charts import sync_chart
from calsync.dashboard.session import Operator
from calsync.dashboard.web import panel_context, render, signed_in, state_of

router = APIRouter()

ATTENTION_SHOWN = 10


@router.get("/")
async def overview(request: Request, operator: Annotated[Operator, Depends(signed_in)]) -> Response:
    state = state_of(request)
    now = state.context.clock()
    context = panel_context(request, operator)
    async with state.context.db.read() as session:
        counted = await state.overview_cache.get(
            operator.project_id, now, lambda: overview_counts.calendar_overview(session, operator.project_id, now)
        )
        counts, activity = counted.overview
        # The newest calendars that need attention, as the calendar list with that filter shows them (a walk of
        # their partial index that stops at the ATTENTION_SHOWN-th); read only when there is one.
        attention = (
            (
                await queries.search_calendars(
                    session,
                    operator.project_id,
                    queries.CalendarSearch(attention=True),
                    after=None,
                    backwards=False,
                    limit=ATTENTION_SHOWN,
                )
            ).rows
            if counts.attention
            else []
        )
        webhooks = await queries.webhook_health(session, operator.project_id, now)
        # Extensions (bots: "due in the next hour") add their sections here.
        panels = await state.extensions.overview_panels(session, context)
    return render(
        request,
        "overview.html",
        title="Overview",
        now=now,
        counted=counted,
        counted_every=f"{int(state.overview_cache.keep.total_seconds())} s",
        counts=counts,
        states=queries.CALENDAR_STATES,
        attention=attention,
        chart=sync_chart(activity),
        webhooks=webhooks,
        panels=panels,
    )
