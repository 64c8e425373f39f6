"""The bot object (API responses and every `bot.*` webhook's `data.bot`) and the `data` of each bot trigger.

Pure functions over rows and plain values; the envelope around `data` (`bot_id`, `bot_metadata`) is built at
delivery time by calsync.webhooks.payloads.build_envelope.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from calsync.store.models import Bot, CalendarEvent
from calsync.webhooks.payloads import format_timestamp as iso

BOT_ID_PREFIX = "bot_"


def bot_json(bot: Bot) -> dict[str, Any]:
    return {
        "id": bot.object_id,
        "state": bot.state,
        "state_reason": bot.state_reason,
        "meeting_url": bot.meeting_url,
        "join_at": iso(bot.join_at),
        "dispatch_at": iso(bot.dispatch_at),
        "calendar_event_id": bot.event_object_id,
        "calendar_id": bot.calendar_object_id,
        "bot_name": bot.bot_name,
        "metadata": bot.metadata_,
        "deduplication_key": bot.deduplication_key,
        "join_offset_seconds": bot.join_offset_seconds,
        "dispatch_lead_seconds": bot.dispatch_lead_seconds,
        "dispatched_at": iso(bot.dispatched_at),
        "rule_id": bot.rule_object_id,
        "meeting_id": bot.meeting_object_id,
        "created_at": iso(bot.created_at),
        "updated_at": iso(bot.updated_at),
    }


def event_json(event: CalendarEvent | None) -> dict[str, Any] | None:
    """What a runner needs to know about the meeting when it launches a bot."""
    if event is None:
        return None
    return {
        "id": event.object_id,
        "name": event.name,
        "start_time": iso(event.start_time),
        "end_time": iso(event.end_time),
        "meeting_url": event.meeting_url,
        "organizer": event.organizer,
        "attendees": event.attendees,
    }


def dispatch_data(bot: Bot, event: CalendarEvent | None) -> dict[str, Any]:
    """`bot.dispatch`: launch now. `event` is null for a bot without a calendar event."""
    return {"bot": bot_json(bot), "event": event_json(event)}


def updated_data(bot: Bot, *, previous_join_at: datetime, previous_meeting_url: str) -> dict[str, Any]:
    """`bot.updated`: the join time or meeting URL changed; `previous` is what they were."""
    return {
        "bot": bot_json(bot),
        "previous": {"join_at": iso(previous_join_at), "meeting_url": previous_meeting_url},
    }


def state_change_data(bot: Bot, previous_state: str) -> dict[str, Any]:
    """`bot.state_change`: every transition, with its reason."""
    return {
        "bot": bot_json(bot),
        "state": bot.state,
        "previous_state": previous_state,
        "state_reason": bot.state_reason,
    }
