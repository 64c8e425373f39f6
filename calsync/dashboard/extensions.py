"""Where features that are not part of every build add themselves to the dashboard (bots first).

An extension can add pages (a router mounted under /dashboard, with a link in the navigation), a panel on the
overview, on a calendar's page and on an event's page, and per-event badges shown on the calendar timeline and the
event page. The bots pages (calsync.dashboard.bots) and the meetings pages (calsync.dashboard.meetings) are two,
listed with their features in `calsync.runtime.FEATURES`. See docs/dashboard.md ("The extension point").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from fastapi import APIRouter
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.dashboard.session import Operator
from calsync.store.models import Calendar, CalendarEvent


@dataclass(frozen=True)
class NavLink:
    label: str
    path: str  # below the dashboard's root, e.g. "/bots"


@dataclass(frozen=True)
class EventBadge:
    """Something attached to an event, e.g. a scheduled bot: shown beside the event, linking to its page."""

    label: str
    state: str  # a short word; the CSS has colours for ok / pending / failed / cancelled (others are neutral)
    href: str | None = None
    at: datetime | None = None  # when it happens (a bot's join time)


@dataclass(frozen=True)
class PanelContext:
    operator: Operator
    now: datetime
    base: str  # the dashboard's root path, for links


class DashboardExtension(Protocol):
    """All members are read once per request; return empty values where there is nothing to add."""

    name: str

    def nav_links(self) -> Sequence[NavLink]: ...

    def router(self) -> APIRouter | None:
        """Routes below the dashboard's root (their paths start with "/"). They use calsync.dashboard.web's
        `signed_in` dependency, `render` and `checked_form`, exactly as the built-in pages do."""
        ...

    async def overview_panel(self, session: AsyncSession, context: PanelContext) -> Markup | None:
        """A `<section>` for the overview, rendered by the extension (e.g. "bots due in the next hour")."""
        ...

    async def event_badges(
        self, session: AsyncSession, context: PanelContext, event_ids: Sequence[int]
    ) -> dict[int, list[EventBadge]]:
        """Badges per event row id, for the events on a page (one query for all of them, not one per event)."""
        ...

    async def calendar_panel(self, session: AsyncSession, context: PanelContext, calendar: Calendar) -> Markup | None:
        """A `<section>` for a calendar's page (e.g. the calendar's bots, whatever their events' dates)."""
        ...

    async def event_panel(self, session: AsyncSession, context: PanelContext, event: CalendarEvent) -> Markup | None:
        """A `<section>` for an event's page (e.g. the meeting the event belongs to)."""
        ...


@dataclass
class Extensions:
    """The extensions of one dashboard app."""

    items: list[DashboardExtension]

    def nav_links(self) -> list[NavLink]:
        return [link for extension in self.items for link in extension.nav_links()]

    async def overview_panels(self, session: AsyncSession, context: PanelContext) -> list[Markup]:
        panels = [await extension.overview_panel(session, context) for extension in self.items]
        return [panel for panel in panels if panel is not None]

    async def calendar_panels(self, session: AsyncSession, context: PanelContext, calendar: Calendar) -> list[Markup]:
        panels = [await extension.calendar_panel(session, context, calendar) for extension in self.items]
        return [panel for panel in panels if panel is not None]

    async def event_panels(self, session: AsyncSession, context: PanelContext, event: CalendarEvent) -> list[Markup]:
        panels = [await extension.event_panel(session, context, event) for extension in self.items]
        return [panel for panel in panels if panel is not None]

    async def event_badges(
        self, session: AsyncSession, context: PanelContext, event_ids: Sequence[int]
    ) -> dict[int, list[EventBadge]]:
        merged: dict[int, list[EventBadge]] = {}
        if not event_ids:
            return merged
        for extension in self.items:
            for event_id, badges in (await extension.event_badges(session, context, event_ids)).items():
                merged.setdefault(event_id, []).extend(badges)
        return merged

    @property
    def has_event_badges(self) -> bool:
        """Whether anything can attach to events at all (the timeline's "bots" column is shown only then)."""
        return bool(self.items)
