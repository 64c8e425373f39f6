"""An event's JSON on the wire (calsync.api.serializers.event_json) written as PostgreSQL expressions, so that a
page's events arrive as JSON text to splice: building each event's dict in Python and encoding it was ~1 ms of a
100-event page (docs/benchmarks.md §15).

The text is byte for byte what orjson writes of `event_json` (strings escaped alike, timestamps as `iso`, the
JSON columns as their stored text); tests/api/test_calendar_events.py compares the two. The object is cut in two
around `bots`, which the route fills in (a feature's payload). The expressions read the event as `e` and its
calendar as `c` (calsync.store.queries.api_page)."""

from __future__ import annotations

from functools import cache


def _string(expression: str) -> str:
    return f"COALESCE(to_json({expression})::text, 'null')"


def _time(expression: str) -> str:
    # The instant in UTC with microseconds and `Z`, as `iso` prints it; independent of the session's time zone.
    return (
        f"""COALESCE('"' || to_char({expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '"', 'null')"""
    )


def _bool(expression: str) -> str:
    return f"CASE WHEN {expression} THEN 'true' WHEN NOT {expression} THEN 'false' ELSE 'null' END"


def _json(expression: str) -> str:
    return f"COALESCE({expression}::text, 'null')"


def _number(expression: str) -> str:
    return f"COALESCE({expression}::text, 'null')"


def _object_text(fields: list[tuple[str, str]], *, opening: bool, closing: bool) -> str:
    parts = []
    for index, (name, value) in enumerate(fields):
        separator = "{" if opening and index == 0 else ","
        parts.append(f"'{separator}\"{name}\":' || {value}")
    if closing:
        parts.append("'}'")
    return " || ".join(parts)


@cache
def event_head(include_raw: bool) -> str:
    """The event's JSON up to and including `"bots":`."""
    fields = [
        ("id", _string("e.object_id")),
        ("calendar_id", _string("c.object_id")),
        ("platform_uuid", _string("e.platform_uuid")),
        ("meeting_url", _string("e.meeting_url")),
        ("start_time", _time("e.start_time")),
        ("end_time", _time("e.end_time")),
        ("is_deleted", _bool("e.is_deleted")),
        ("attendees", _json("e.attendees")),
        ("ical_uid", _string("e.ical_uid")),
        ("name", _string("e.name")),
        ("raw", _json("e.raw") if include_raw else "'null'"),
    ]
    return _object_text(fields, opening=True, closing=False) + """ || ',"bots":'"""


@cache
def event_tail() -> str:
    """The event's JSON after its `bots` value, to the closing brace."""
    fields = [
        ("created_at", _time("e.created_at")),
        ("updated_at", _time("e.updated_at")),
        ("is_all_day", _bool("e.is_all_day")),
        ("time_zone", _string("e.time_zone")),
        ("status", _string("e.status")),
        ("location", _string("e.location")),
        ("organizer", _json("e.organizer")),
        ("recurring_event_id", _string("e.recurring_event_id")),
        ("html_link", _string("e.html_link")),
        ("meeting_platform", _string("e.meeting_platform")),
        ("change_seq", _number("e.change_seq")),
        ("meeting_id", _string("e.meeting_object_id")),
    ]
    return _object_text(fields, opening=False, closing=True)
