"""The meetings extension of the dashboard: "Meetings" and "Rules" pages, the meeting an event belongs to on the
event's page, and a link to a calendar's meetings on the calendar's page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.dashboard.extensions import EventBadge, NavLink, PanelContext
from calsync.dashboard.meetings import pages, queries, views
from calsync.dashboard.web import ENVIRONMENT
from calsync.meetings import queries as meeting_queries
from calsync.store.models import Calendar, CalendarEvent


def _section(template: str, **values: Any) -> Markup:
    # The dashboard's environment autoescapes every value, so its output is markup that is safe to embed as is.
    html = ENVIRONMENT.get_template(template).render(**values, **views.HELPERS)
    return Markup(html)  # noqa: S704


class MeetingsExtension:
    name = "meetings"

    def nav_links(self) -> Sequence[NavLink]:
        return [NavLink("Meetings", "/meetings"), NavLink("Rules", "/rules")]

    def router(self) -> APIRouter:
        return pages.router

    async def overview_panel(self, session: AsyncSession, context: PanelContext) -> None:
        return None

    async def calendar_panel(self, session: AsyncSession, context: PanelContext, calendar: Calendar) -> Markup:
        """A link only: the calendar's meetings are the list's calendar filter (no query on this page)."""
        return _section("_calendar_meetings.html", base=context.base, calendar=calendar)

    async def event_panel(self, session: AsyncSession, context: PanelContext, event: CalendarEvent) -> Markup | None:
        """The event's meeting and its decision; nothing for an event that belongs to no meeting."""
        if event.meeting_object_id is None:
            return None
        meeting = await meeting_queries.get_meeting(session, context.operator.project_id, event.meeting_object_id)
        decision = None
        if meeting is not None:
            rules = await queries.rules_by_id(
                session, context.operator.project_id, [(meeting.decision or {}).get("rule_id")]
            )
            decision = views.decision(meeting, rules)
        return _section(
            "_event_meeting.html",
            base=context.base,
            meeting_id=event.meeting_object_id,
            meeting=meeting,
            decision=decision,
        )

    async def event_badges(
        self, session: AsyncSession, context: PanelContext, event_ids: Sequence[int]
    ) -> dict[int, list[EventBadge]]:
        return {}  # an event's meeting is a section of its page, not a badge
