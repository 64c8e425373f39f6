"""Google Calendar `Event` resource → `NormalizedEvent` (rules in docs/providers.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from calsync.providers.base import Attendee, NormalizedEvent
from calsync.providers.http import as_str
from calsync.providers.normalize import (
    MAX_LOCATION_CHARS,
    MAX_NAME_CHARS,
    bound_raw,
    meeting_link,
    parse_date,
    parse_datetime,
    truncate,
)

_RESPONSE_STATUS = {
    "accepted": "accepted",
    "declined": "declined",
    "tentative": "tentative",
    "needsAction": "needs_action",
}
_STATUSES = frozenset({"confirmed", "tentative", "cancelled"})
_RAW_TEXT_PATHS = (("description",), ("summary",))


def _time(value: Any, fallback_zone: str | None) -> tuple[datetime | None, bool]:
    """(instant, is_all_day) of an `EventDateTime`: `{"date"}` for all-day, `{"dateTime", "timeZone"?}` otherwise."""
    if not isinstance(value, dict):
        return None, False
    if day := as_str(value.get("date")):
        return parse_date(day), True
    return parse_datetime(as_str(value.get("dateTime")), as_str(value.get("timeZone")) or fallback_zone), False


def _attendees(items: Any) -> list[Attendee]:
    if not isinstance(items, list):
        return []
    return [
        Attendee(
            email=as_str(a.get("email")),
            name=as_str(a.get("displayName")),
            response_status=_RESPONSE_STATUS.get(as_str(a.get("responseStatus")) or ""),
            is_organizer=a.get("organizer") is True,
            is_self=a.get("self") is True,
        )
        for a in items
        if isinstance(a, dict)
    ]


def _video_entry_point(conference: Any) -> str | None:
    if not isinstance(conference, dict) or not isinstance(entry_points := conference.get("entryPoints"), list):
        return None
    for entry in entry_points:
        if isinstance(entry, dict) and entry.get("entryPointType") == "video" and (uri := as_str(entry.get("uri"))):
            return uri
    return None


def meeting_link_sources(item: dict[str, Any]) -> list[tuple[str, Any]]:
    """The texts searched for the meeting link, in priority order, each with the field it comes from (the dashboard
    names where an event's link was found)."""
    return [
        ("conferenceData.entryPoints[video].uri", _video_entry_point(item.get("conferenceData"))),
        ("hangoutLink", item.get("hangoutLink")),
        ("location", item.get("location")),
        ("description", item.get("description")),
        ("summary", item.get("summary")),
    ]


def normalize_event(item: dict[str, Any], *, calendar_time_zone: str | None = None) -> NormalizedEvent | None:
    """One event of an events.list / events.get reply, or None when it has no usable id.

    `calendar_time_zone` (the list reply's top-level `timeZone`) names the zone of all-day events and of
    date-times without an offset when the event itself does not say. A cancelled event (a deletion, or a cancelled
    instance of a live series) may be an id-only stub: it becomes a tombstone whose `start_time` is the instance's
    `originalStartTime` when Google gives one."""
    event_id = as_str(item.get("id"))
    if not event_id:
        return None
    status = as_str(item.get("status")) or "confirmed"
    status = status if status in _STATUSES else "confirmed"
    start_value, end_value = item.get("start"), item.get("end")
    event_zone = (start_value.get("timeZone") if isinstance(start_value, dict) else None) or calendar_time_zone
    time_zone = as_str(event_zone)
    start, all_day = _time(start_value, time_zone)
    end, _ = _time(end_value, time_zone)
    if start is None and status == "cancelled":
        start, all_day = _time(item.get("originalStartTime"), time_zone)
    if end is None and start is not None and status != "cancelled":
        end = start  # a live event without a usable end: zero length rather than an open interval
    organizer = item.get("organizer")
    url, platform = meeting_link(*(text for _, text in meeting_link_sources(item)))
    return NormalizedEvent(
        platform_uuid=event_id,
        is_deleted=status == "cancelled",
        start_time=start,
        end_time=end,
        is_all_day=all_day,
        time_zone=time_zone,
        name=truncate(as_str(item.get("summary")), MAX_NAME_CHARS),
        status=status,
        location=truncate(as_str(item.get("location")), MAX_LOCATION_CHARS),
        organizer=(
            {"email": as_str(organizer.get("email")), "name": as_str(organizer.get("displayName"))}
            if isinstance(organizer, dict)
            else None
        ),
        organizer_is_owner=isinstance(organizer, dict) and organizer.get("self") is True,
        attendees=_attendees(item.get("attendees")),
        ical_uid=as_str(item.get("iCalUID")),
        recurring_event_id=as_str(item.get("recurringEventId")),
        html_link=as_str(item.get("htmlLink")),
        meeting_url=url,
        meeting_platform=platform,
        raw=bound_raw(item, _RAW_TEXT_PATHS),
    )
