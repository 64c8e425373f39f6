"""The descriptive fields of an event the control API may set, and how they are checked and applied."""

from __future__ import annotations

from typing import Any

from calsync_emulator.model import Attendee, Event

EVENT_FIELDS = frozenset(
    {
        "summary",
        "description",
        "location",
        "status",
        "attendees",
        "organizer_email",
        "organizer_name",
        "meeting_url",
        "show_as",
        "ical_uid",
    }
)


def apply_fields(event: Event, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        if name not in EVENT_FIELDS:
            raise ValueError(f"unknown event field {name!r}")
        if name == "attendees":
            value = tuple(a if isinstance(a, Attendee) else Attendee(**a) for a in value)
        if name == "status" and value not in ("confirmed", "tentative"):
            raise ValueError("status must be confirmed or tentative (use cancel/delete to cancel)")
        setattr(event, name, value)
