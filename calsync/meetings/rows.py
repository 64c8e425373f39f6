"""The rows a meeting evaluation reads, typed: a member event's columns (read as named columns, not ORM instances:
no identity map, no `raw` decoded)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from calsync.bots import rules as bot_rules
from calsync.store.models import CalendarEvent


@dataclass(frozen=True, slots=True)
class EventRow:
    """What an evaluation reads of a member event (the columns of EVENT_COLUMNS, in their order)."""

    id: int
    object_id: str
    calendar_id: int
    meeting_object_id: str | None
    name: str | None
    start_time: datetime
    end_time: datetime
    is_all_day: bool
    is_deleted: bool
    meeting_url: str | None
    meeting_platform: str | None
    ical_uid: str | None
    recurring_event_id: str | None
    organizer: dict[str, Any] | None
    attendees: list[dict[str, Any]] | None

    @classmethod
    def of(cls, row: Sequence[Any]) -> EventRow:
        return cls(*row)

    def followed(self) -> bot_rules.Meeting:
        """The fields a bot follows, as the bot rules see them."""
        return bot_rules.Meeting(self.start_time, self.end_time, self.meeting_url, self.is_deleted)


EVENT_COLUMNS = (
    CalendarEvent.id,
    CalendarEvent.object_id,
    CalendarEvent.calendar_id,
    CalendarEvent.meeting_object_id,
    CalendarEvent.name,
    CalendarEvent.start_time,
    CalendarEvent.end_time,
    CalendarEvent.is_all_day,
    CalendarEvent.is_deleted,
    CalendarEvent.meeting_url,
    CalendarEvent.meeting_platform,
    CalendarEvent.ical_uid,
    CalendarEvent.recurring_event_id,
    CalendarEvent.organizer,
    CalendarEvent.attendees,
)
