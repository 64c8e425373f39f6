"""Parsing and formatting of the two platforms' date-time dialects, and time-zone lookup.

Google speaks RFC 3339 with offsets; Graph speaks offset-less `dateTimeTimeZone` values with seven
fractional digits. Windows zone names (Graph's `Prefer: outlook.timezone`) map to IANA zones here.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

TimeValue = datetime | date  # a `date` (not datetime) means an all-day boundary

# The Windows names clients actually send; Graph accepts both these and IANA names.
WINDOWS_ZONES: dict[str, str] = {
    "UTC": "UTC",
    "Coordinated Universal Time": "UTC",
    "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik",
    "W. Europe Standard Time": "Europe/Berlin",
    "Romance Standard Time": "Europe/Paris",
    "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw",
    "E. Europe Standard Time": "Europe/Chisinau",
    "FLE Standard Time": "Europe/Kiev",
    "Russian Standard Time": "Europe/Moscow",
    "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago",
    "Mountain Standard Time": "America/Denver",
    "US Mountain Standard Time": "America/Phoenix",
    "Pacific Standard Time": "America/Los_Angeles",
    "Alaskan Standard Time": "America/Anchorage",
    "Hawaiian Standard Time": "Pacific/Honolulu",
    "E. South America Standard Time": "America/Sao_Paulo",
    "India Standard Time": "Asia/Kolkata",
    "China Standard Time": "Asia/Shanghai",
    "Tokyo Standard Time": "Asia/Tokyo",
    "Singapore Standard Time": "Asia/Singapore",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "New Zealand Standard Time": "Pacific/Auckland",
}

_FRACTION = re.compile(r"(\.\d{6})\d+")


@lru_cache(maxsize=1024)
def find_zone(name: str) -> tzinfo | None:
    """IANA or Windows zone name -> tzinfo, or None when unknown."""
    if name in ("UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(WINDOWS_ZONES.get(name, name))
    except (ZoneInfoNotFoundError, ValueError):
        return None


def zone(name: str) -> tzinfo:
    """Like find_zone, for names the emulator itself validated: unknown falls back to UTC."""
    return find_zone(name) or UTC


def parse_rfc3339(value: str) -> datetime:
    """Google's timeMin/timeMax/updatedMin: an offset is mandatory."""
    parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip().replace("z", "Z").replace("Z", "+00:00")))
    if parsed.tzinfo is None:
        raise ValueError("offset required")
    return parsed


def parse_graph_datetime(value: str) -> datetime:
    """Graph's startDateTime/endDateTime: their own offset counts; without one they are UTC."""
    parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip().replace("Z", "+00:00")))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_time_value(value: str, tz: tzinfo) -> TimeValue:
    """Control-API input: `YYYY-MM-DD` is all-day; a naive date-time is wall time in `tz`."""
    value = value.strip()
    if len(value) == 10:
        return date.fromisoformat(value)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


def to_datetime(value: TimeValue, tz: tzinfo) -> datetime:
    """An aware instant; an all-day date is midnight in `tz` (the calendar's zone)."""
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time(), tzinfo=tz)


def timestamp(value: TimeValue, tz: tzinfo) -> float:
    return to_datetime(value, tz).timestamp()


def fmt_google_timestamp(value: datetime) -> str:
    """`created`/`updated`: UTC with milliseconds, as Google writes them."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def fmt_google_datetime(value: datetime, tz: tzinfo) -> str:
    local = value.astimezone(tz)
    text = local.isoformat(timespec="seconds")
    return text[:-6] + "Z" if tz is UTC and text.endswith("+00:00") else text


def fmt_graph_datetime(value: datetime, tz: tzinfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}0"


def fmt_graph_timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}0Z"


def fmt_http_date(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def shift(value: TimeValue, delta: timedelta) -> TimeValue:
    return value + delta if isinstance(value, datetime) else value + timedelta(days=delta.days)


def duration(start: TimeValue, end: TimeValue) -> timedelta:
    if isinstance(start, datetime) and isinstance(end, datetime):
        return end - start
    if not isinstance(start, datetime) and not isinstance(end, datetime):
        return end - start
    raise ValueError("start and end must both be dates or both date-times")
