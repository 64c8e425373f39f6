"""Which meeting an event belongs to: a grouping key, and the meeting's public id derived from it.

The rule (docs/bots.md, "Meetings"): events of one project are one meeting when they have the same start and the
same normalized meeting URL; events without a meeting URL group by iCalUID and start (each recurring instance has
its own start, so instances are separate meetings); an event with neither is a meeting of its own. Copies of one
invitation carry both the iCalUID and the link, so they meet either way; the link decides first because two
events in one room at one time are one meeting for a bot even when their iCalUIDs differ (a forwarded invite,
Graph's per-occurrence iCalUIDs against Google's per-series one).

The id is a digest of (project, key): every sync computes it alone, without reading or locking anything, so the
grouping costs the sync one hash per written event.
"""

from __future__ import annotations

import functools
import hashlib
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from calsync.ids import ID_LENGTH

MEETING_ID_PREFIX = "mtg_"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_HALF = 62 ** (ID_LENGTH // 2)
# Hosts that serve one meeting under several names (a Zoom meeting is the same on us02web.zoom.us and zoom.us).
_HOST_FAMILIES = ("zoom.us", "zoom.com", "webex.com", "zoomgov.com")


# A plain link as the extraction stores it (lower-case scheme, a host of letters, digits, dots and hyphens, no
# user, port, space or control character), split as `urlsplit` would split it at a fraction of its cost: every
# event with a link is keyed once per sync, and such links are rarely the same twice. Anything else takes urlsplit.
_PLAIN_URL_RE = re.compile(r"(?:https?|zoommtg)://([A-Za-z0-9.-]+)([/?#][!-~]*)?")


def _host_path_query(url: str) -> tuple[str, str, str] | None:
    """(lower-cased host, path, query) of `url` as urlsplit gives them, or None when it is not a link."""
    plain = _PLAIN_URL_RE.fullmatch(url)
    if plain is not None:
        rest = (plain.group(2) or "").partition("#")[0]
        path, _, query = rest.partition("?")
        return plain.group(1).lower(), path, query
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return (parts.hostname or "").lower(), parts.path, parts.query


@functools.lru_cache(maxsize=4096)  # (a personal room's link comes back all day, every day)
def normalized_url(url: str) -> str:
    """The part of a (stored, already unwrapped) meeting link that names the room: lower-cased host without `www.`
    and regional subdomains of one service, the path without a trailing slash, no query or fragment except where
    the room is in them (Teams `meet` passcodes stay out: the meeting id names the room)."""
    split = _host_path_query(url.strip())
    if split is None:
        return url.strip().lower()
    host, path, query = split
    host = host.removeprefix("www.")
    for family in _HOST_FAMILIES:
        if host.endswith("." + family):
            host = family
    path = path.rstrip("/")
    if host == "meet.google.com":
        path = path.lower()
    # Zoom's `/join?confno=…`, Webex's `j.php?MTID=…` name the room in the query.
    query = query if not path or path.endswith((".php", "/join")) else ""
    return f"{host}{path}" + (f"?{query}" if query else "")


def _instant(start: datetime) -> str:
    """`start.strftime("%Y-%m-%dT%H:%M:%S")` (what stored meeting ids were made with), faster: the first 19
    characters of `isoformat` are the same for years from 1000 on (strftime does not pad earlier years)."""
    if start.year < 1000:
        return start.strftime("%Y-%m-%dT%H:%M:%S")
    return start.isoformat()[:19]


def grouping_key(values: dict[str, Any], calendar_id: int | None = None) -> str:
    """The key of an event's meeting, from its stored column values (start_time, meeting_url, ical_uid,
    calendar_id, platform_uuid); `calendar_id` stands for a values' own when they have none (a row not yet
    written: the sync does not copy every row's values to add it)."""
    instant = _instant(values["start_time"])
    if values.get("meeting_url"):
        return f"url\x00{normalized_url(values['meeting_url'])}\x00{instant}"
    if values.get("ical_uid"):
        return f"uid\x00{values['ical_uid']}\x00{instant}"
    calendar = values["calendar_id"] if calendar_id is None else calendar_id
    return f"evt\x00{calendar}\x00{values['platform_uuid']}"


def meeting_id(project_id: int, key: str) -> str:
    """`mtg_` + 16 base62 characters of SHA-256(project, key): the 16 lowest base-62 digits of its first 96 bits,
    least significant first (taken as two halves of 8 digits: small-integer arithmetic, the same digits)."""
    number = int.from_bytes(hashlib.sha256(f"{project_id}\x00{key}".encode()).digest()[:12], "big")
    high, low = divmod(number, _HALF)
    return MEETING_ID_PREFIX + _digits(low) + _digits(high % _HALF)


# Two base-62 digits at a time, least significant first (half the divisions of one digit at a time: this runs
# once per event written).
_PAIRS = [low + high for high in _ALPHABET for low in _ALPHABET]
_PAIR = 62 * 62


def _digits(number: int) -> str:
    """The 8 lowest base-62 digits of `number` (below 62**8), least significant first: unrolled, one division
    into two 4-digit halves and one into pairs per half."""
    upper, lower = divmod(number, _PAIR * _PAIR)
    second, first = divmod(lower, _PAIR)
    fourth, third = divmod(upper, _PAIR)
    return _PAIRS[first] + _PAIRS[second] + _PAIRS[third] + _PAIRS[fourth % _PAIR]


def event_meeting_id(project_id: int, values: dict[str, Any], calendar_id: int | None = None) -> str:
    return meeting_id(project_id, grouping_key(values, calendar_id))
