"""Query-string datetimes, accepted as the anchor (Django's parse_datetime) accepts them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# A date, a T or space, a time; optional fraction and offset. A date alone is rejected, as the anchor does.
_DATETIME = re.compile(
    r"\d{4}-\d{1,2}-\d{1,2}[T ]\d{1,2}:\d{1,2}(:\d{1,2}([.,]\d{1,6}\d*)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?",
    re.IGNORECASE,
)


def parse_query_datetime(value: str) -> datetime | None:
    """An aware UTC datetime, or None when the value is not a datetime. Naive values are UTC."""
    text = value.strip()
    if not _DATETIME.fullmatch(text):
        return None
    normalized = text.replace(" ", "T", 1).replace(",", ".")
    normalized = re.sub(r"\s+", "", normalized)
    if normalized[-1] in "zZ":
        normalized = normalized[:-1] + "+00:00"
    # Python wants 6 fraction digits at most.
    normalized = re.sub(r"\.(\d{6})\d+", r".\1", normalized)
    try:
        parsed = datetime.fromisoformat(normalized)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
