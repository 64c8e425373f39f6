"""Wire formats shared by every response."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(value: datetime | None) -> str | None:
    """ISO-8601 UTC with microseconds and `Z`, exactly as the anchor prints (`2025-01-13T10:30:00.123456Z`)."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
