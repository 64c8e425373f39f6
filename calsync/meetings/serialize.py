"""The meeting object of the API (calsync.api.meeting_schemas.MeetingOut)."""

from __future__ import annotations

from typing import Any

from calsync.bots.payloads import bot_json
from calsync.store.models import Bot, Meeting
from calsync.webhooks.payloads import format_timestamp as iso


def meeting_json(meeting: Meeting, bot: Bot | None) -> dict[str, Any]:
    return {
        "id": meeting.object_id,
        "name": meeting.name,
        "start_time": iso(meeting.start_time),
        "end_time": iso(meeting.end_time),
        "meeting_url": meeting.meeting_url,
        "meeting_platform": meeting.meeting_platform,
        "ical_uid": meeting.ical_uid,
        "events": meeting.events,
        "bot": bot_json(bot) if bot is not None else None,
        "bot_override": meeting.bot_override,
        "decision": meeting.decision,
        "created_at": iso(meeting.created_at),
        "updated_at": iso(meeting.updated_at),
    }
