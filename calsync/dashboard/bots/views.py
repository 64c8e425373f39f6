"""Stored bots as the bots pages show them: badge colours, labels, the timeline's bars, the list's filters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from starlette.datastructures import QueryParams

from calsync.bots import rules
from calsync.dashboard.extensions import EventBadge
from calsync.store.models import Bot, CalendarEvent
from calsync.store.models.bot import LIVE_STATES, BotState

STATES = tuple(state.value for state in BotState)
# The badge colours of the stylesheet (ok / pending / failed / cancelled; others are neutral).
STATE_KINDS = {
    rules.SCHEDULED: "pending",
    rules.DISPATCHED: "ok",
    rules.PAUSED: "neutral",
    rules.CANCELLED: "cancelled",
    rules.FAILED: "failed",
}
# The list's time windows: upcoming bots by join time, on a timeline; or every bot, newest first.
WINDOWS = {"24h": 1, "7d": 7}
ALL = "all"
DEFAULT_WINDOW = "24h"
MAX_ID_CHARS = 32


def state_kind(state: str) -> str:
    return STATE_KINDS.get(state, "neutral")


def is_live(bot: Bot) -> bool:
    """Whether Cancel still changes something (an ended bot stays as it is)."""
    return bot.state in LIVE_STATES


def reason_code(bot: Bot) -> str | None:
    reason = bot.state_reason
    code = reason.get("code") if isinstance(reason, dict) else None
    return code if isinstance(code, str) else None


def display_name(bot: Bot, event: CalendarEvent | None = None) -> str:
    """The bot's name, else its event's, else its id: what an operator recognises first."""
    if bot.bot_name:
        return bot.bot_name
    if event is not None and event.name:
        return event.name
    return bot.object_id


def badge(bot: Bot, base: str) -> EventBadge:
    """A bot beside its event: "Notes: scheduled", or "Notes: failed (meeting_url_removed)"."""
    code = reason_code(bot)
    label = f"{bot.bot_name or 'bot'}: {bot.state}"
    if code and bot.state not in (rules.SCHEDULED, rules.DISPATCHED):
        label += f" ({code})"
    return EventBadge(label, state_kind(bot.state), href=f"{base}/bots/{bot.object_id}", at=bot.join_at)


# What the bots templates call (passed with every render of them).
HELPERS: dict[str, Any] = {
    "display_name": display_name,
    "state_kind": state_kind,
    "is_live": is_live,
    "reason_code": reason_code,
}


@dataclass(frozen=True)
class TimelineItem:
    """A bot in the shape calsync.dashboard.charts.timeline places: a bar from its dispatch to its join time."""

    id: int
    object_id: str
    name: str
    start_time: datetime
    end_time: datetime
    meeting_url: str | None
    meeting_platform: str | None


def timeline_items(bots: list[Bot], events: Mapping[int, CalendarEvent]) -> list[TimelineItem]:
    items = []
    for bot in bots:
        event = events.get(bot.event_id) if bot.event_id is not None else None
        items.append(
            TimelineItem(
                id=bot.id,
                object_id=bot.object_id,
                name=display_name(bot, event),
                start_time=bot.dispatch_at,
                end_time=max(bot.join_at, bot.dispatch_at),
                meeting_url=bot.meeting_url,
                meeting_platform=event.meeting_platform if event is not None else None,
            )
        )
    return items


@dataclass(frozen=True)
class BotListFilters:
    """The list's query parameters, checked: anything unknown is ignored rather than an error page."""

    state: str | None
    calendar_id: str | None
    window: str

    @property
    def days(self) -> int | None:
        return WINDOWS.get(self.window)

    def join_range(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The upcoming window's join times (from the start of the current hour), or None for every bot."""
        if self.days is None:
            return None
        start = now.replace(minute=0, second=0, microsecond=0)
        return start, start + timedelta(days=self.days)


def list_filters(params: QueryParams) -> BotListFilters:
    state = params.get("state") or None
    calendar_id = (params.get("calendar_id") or "").strip() or None
    window = params.get("window") or DEFAULT_WINDOW
    return BotListFilters(
        state=state if state in STATES else None,
        calendar_id=calendar_id if calendar_id and len(calendar_id) <= MAX_ID_CHARS else None,
        window=window if window in WINDOWS or window == ALL else DEFAULT_WINDOW,
    )
