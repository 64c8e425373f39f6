"""Wire formats shared by every response."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(value: datetime | None) -> str | None:
    """ISO-8601 UTC with microseconds and `Z`, exactly as Attendee prints (`2025-01-13T10:30:00.123456Z`)."""
    if value is None:
        return None
    # isoformat is twice as fast as strftime, and this runs four times per event on every page.
    return value.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"
