"""Helpers both platforms' event normalization share: size bounds, time parsing, zones, attendee statuses,
and the call into meeting-URL extraction."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.parser import isoparse

from calsync import json_codec
from calsync.providers.meeting_urls import find_meeting_url

# Column sizes of the event table (Attendee's too): longer values are cut, never rejected.
MAX_NAME_CHARS = 1024
MAX_LOCATION_CHARS = 1024
# Free text inside `raw` (description, HTML body, summary) is cut to this many characters, as Attendee does.
MAX_RAW_TEXT_CHARS = 8000
# The whole `raw` document, serialized as compact UTF-8 JSON, stays under this many bytes. Events with hundreds of
# attendees or huge extended properties would otherwise make every row (and every API page) arbitrarily large.
MAX_RAW_BYTES = 32 * 1024
# Top-level key listing what was dropped from `raw` to respect MAX_RAW_BYTES.
TRUNCATED_KEY = "_calsync_truncated"


def truncate(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    return value if len(value) <= limit else value[:limit]


def _json_size(value: Any) -> int:
    return len(json_codec.dumps(value))


def bound_raw(item: dict[str, Any], text_paths: tuple[tuple[str, ...], ...]) -> dict[str, Any]:
    """The platform payload with the free-text fields at `text_paths` cut to MAX_RAW_TEXT_CHARS, then, if still
    over MAX_RAW_BYTES, with its largest top-level fields dropped (largest first, never `id`) and their names
    listed under TRUNCATED_KEY. Deterministic, so an unchanged event yields an identical `raw`.

    `item` is never modified. Only the dicts along a trimmed path are copied (copy on write): a deep copy of
    every payload was the largest single cost of an initial sync (bench/initial_sync.py). The result carries its
    encoding when it fits at once (json_codec.EncodedObject): the event's write sends these very bytes."""
    raw = json_codec.EncodedObject(item)
    for path in text_paths:
        parent: Any = raw
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        text = parent.get(path[-1])
        if isinstance(text, str) and len(text) > MAX_RAW_TEXT_CHARS:
            node = raw
            for key in path[:-1]:
                node[key] = dict(node[key])
                node = node[key]
            node[path[-1]] = text[:MAX_RAW_TEXT_CHARS]
    encoded = json_codec.dumps(raw)
    if len(encoded) <= MAX_RAW_BYTES:
        raw.encoded = encoded.decode()
        return raw
    by_size = sorted((k for k in raw if k != "id"), key=lambda k: (-_json_size(raw[k]), k))
    dropped: list[str] = []
    for key in by_size:
        del raw[key]
        dropped.append(key)
        if _json_size(raw) + _json_size({TRUNCATED_KEY: dropped}) <= MAX_RAW_BYTES:
            break
    raw[TRUNCATED_KEY] = sorted(dropped)
    return raw


def zone(name: str | None) -> tzinfo | None:
    """The IANA zone of that name, or None (Windows names like "Pacific Standard Time", custom zones, junk)."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def parse_datetime(value: str | None, zone_name: str | None) -> datetime | None:
    """An ISO 8601 date-time as aware UTC. A value without an offset is read in `zone_name` (UTC when unknown).
    Unparseable input gives None rather than failing the whole page."""
    if not value:
        return None
    try:
        try:
            # The stdlib parser (3.11+) reads every form the platforms send, 7-digit Graph fractions included,
            # at a quarter of dateutil's cost; dateutil stays as the fallback for anything unusual.
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = isoparse(value)
        if parsed.tzinfo is None:
            # Graph names UTC on every time it is asked for in UTC: no zone lookup or conversion for those.
            if zone_name == "UTC":
                return parsed.replace(tzinfo=UTC)
            parsed = parsed.replace(tzinfo=zone(zone_name) or UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # also year 1 / 9999 pushed out of range by the offset
        return None


def parse_date(value: str | None) -> datetime | None:
    """A calendar date as midnight UTC of that same date: all-day events keep their date whatever the zone."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    return midnight_utc(day)


def midnight_utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def meeting_link(*candidates: Any) -> tuple[str | None, str | None]:
    """(url, platform) of the first meeting link among `candidates`, which are in priority order.
    Non-strings and empty strings are skipped, so callers can pass fields straight from the payload."""
    texts = [c for c in candidates if isinstance(c, str) and c]
    if not texts:
        return None, None
    link = find_meeting_url(*texts)
    if link is None:
        return None, None
    return link.url, link.platform
