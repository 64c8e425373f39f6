"""The bots extension of the dashboard: a "Bots" page, "bots due in the next hour" on the overview, the bots of a
calendar on its page, and each event's bots beside it (calendar timeline, event page)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.bots import queries as bot_queries
from calsync.dashboard.bots import pages, views
from calsync.dashboard.extensions import EventBadge, NavLink, PanelContext
from calsync.dashboard.queries import COUNT_CAP
from calsync.dashboard.web import ENVIRONMENT
from calsync.store.models import Calendar, CalendarEvent

DUE_WITHIN = timedelta(hours=1)
DUE_SHOWN = 10
CALENDAR_BOTS_SHOWN = 10
# A scheduled bot still due this long after its due time was not dispatched on time (is a worker running?).
OVERDUE_AFTER = timedelta(seconds=60)


def _section(template: str, **values: Any) -> Markup:
    # The dashboard's environment autoescapes every value, so its output is markup that is safe to embed as is.
    html = ENVIRONMENT.get_template(template).render(**values, **views.HELPERS)
    return Markup(html)  # noqa: S704


class BotsExtension:
    name = "bots"

    def nav_links(self) -> Sequence[NavLink]:
        return [NavLink("Bots", "/bots")]

    def router(self) -> APIRouter:
        return pages.router

    async def overview_panel(self, session: AsyncSession, context: PanelContext) -> Markup:
        """Bots due in the next hour, overdue ones first: the dispatch index's range up to now + 1 h."""
        until = context.now + DUE_WITHIN
        due = await bot_queries.due_by(session, context.operator.project_id, until, limit=DUE_SHOWN)
        count = (
            await bot_queries.count_due_by(session, context.operator.project_id, until, cap=COUNT_CAP)
            if len(due) == DUE_SHOWN
            else len(due)
        )
        events = await bot_queries.events_of_bots(session, context.operator.project_id, due)
        overdue_before = context.now - OVERDUE_AFTER
        return _section(
            "_bots_due.html",
            base=context.base,
            now=context.now,
            due=[(bot, events.get(bot.event_id) if bot.event_id is not None else None) for bot in due],
            count=count,
            overdue=[bot for bot in due if bot.dispatch_due_at and bot.dispatch_due_at < overdue_before],
        )

    async def calendar_panel(self, session: AsyncSession, context: PanelContext, calendar: Calendar) -> Markup:
        """The calendar's newest bots (also those of past or far-off events, which the week's table leaves out)."""
        page = await bot_queries.list_bots(
            session,
            context.operator.project_id,
            bot_queries.BotFilters(calendar_object_id=calendar.object_id),
            ordering="-created_at",
            after=None,
            backwards=False,
            limit=CALENDAR_BOTS_SHOWN,
        )
        events = await bot_queries.events_of_bots(session, context.operator.project_id, page.rows)
        return _section(
            "_calendar_bots.html",
            base=context.base,
            now=context.now,
            calendar=calendar,
            bots=[(bot, events.get(bot.event_id) if bot.event_id is not None else None) for bot in page.rows],
            more=page.next_key is not None,
        )

    async def event_panel(self, session: AsyncSession, context: PanelContext, event: CalendarEvent) -> None:
        """Nothing: an event's bots are its badges."""
        return None

    async def event_badges(
        self, session: AsyncSession, context: PanelContext, event_ids: Sequence[int]
    ) -> dict[int, list[EventBadge]]:
        found = await bot_queries.bots_of_events(session, event_ids, project_id=context.operator.project_id)
        return {event_id: [views.badge(bot, context.base) for bot in bots] for event_id, bots in found.items()}
