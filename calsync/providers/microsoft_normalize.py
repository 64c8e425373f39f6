"""Microsoft Graph `event` resource → `NormalizedEvent` (rules in docs/providers.md).

Requests carry `Prefer: outlook.timezone="UTC"`, so `start`/`end` normally arrive as offset-less UTC date-times
with seven fractional digits; the zone named next to them is honoured anyway.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from dateutil.parser import isoparse

from calsync.providers.base import Attendee, NormalizedEvent
from calsync.providers.http import as_str
from calsync.providers.normalize import (
    MAX_LOCATION_CHARS,
    MAX_NAME_CHARS,
    bound_raw,
    meeting_link,
    midnight_utc,
    parse_datetime,
    truncate,
    zone,
)

_RESPONSE_STATUS = {
    "accepted": "accepted",
    "organizer": "accepted",
    "declined": "declined",
    "tentativelyAccepted": "tentative",
    "none": "needs_action",
    "notResponded": "needs_action",
}
_CUSTOM_ZONE = "tzone://Microsoft/Custom"
_RAW_TEXT_PATHS = (("body", "content"), ("subject",))


def _all_day(value: dict[str, Any], event_zone: str | None) -> datetime | None:
    """The calendar date of an all-day boundary, as midnight UTC.

    All-day events are floating midnights. Should Graph have converted one into the requested zone (so it is no
    longer at midnight), convert it back into the event's own zone and take the nearest date."""
    text = as_str(value.get("dateTime"))
    if not text:
        return None
    try:
        wall = isoparse(text)
        if wall.time() == time(0):
            return midnight_utc(wall.date())
        given = wall if wall.tzinfo else wall.replace(tzinfo=zone(as_str(value.get("timeZone"))) or UTC)
        home = zone(event_zone)
        local = given.astimezone(home) if home else given
        return midnight_utc((local + timedelta(hours=12)).date())
    except (ValueError, OverflowError):  # unparseable, or pushed past year 1 / 9999
        return None


def _time(value: Any, *, all_day: bool, event_zone: str | None) -> datetime | None:
    if not isinstance(value, dict):
        return None
    if all_day:
        return _all_day(value, event_zone)
    return parse_datetime(as_str(value.get("dateTime")), as_str(value.get("timeZone")))


def _email(holder: Any) -> tuple[str | None, str | None]:
    """(address, name) of an `{emailAddress: {address, name}}` holder."""
    address = holder.get("emailAddress") if isinstance(holder, dict) else None
    if not isinstance(address, dict):
        return None, None
    return as_str(address.get("address")), as_str(address.get("name"))


def _attendees(items: Any, organizer_email: str | None, user_is_organizer: bool) -> list[Attendee]:
    if not isinstance(items, list):
        return []
    attendees = []
    for item in items:
        if not isinstance(item, dict):
            continue
        email, name = _email(item)
        status = item.get("status")
        response = as_str(status.get("response")) if isinstance(status, dict) else None
        is_organizer = response == "organizer" or (
            email is not None and organizer_email is not None and email.lower() == organizer_email.lower()
        )
        attendees.append(
            Attendee(
                email=email,
                name=name,
                response_status=_RESPONSE_STATUS.get(response or ""),
                is_organizer=is_organizer,
                # Graph flags only whether the signed-in user organizes the event, so that is the one self we know.
                is_self=is_organizer and user_is_organizer,
            )
        )
    return attendees


def _location(item: dict[str, Any]) -> str | None:
    location = item.get("location")
    name = as_str(location.get("displayName")) if isinstance(location, dict) else None
    if name:
        return name
    locations = item.get("locations")
    if isinstance(locations, list):
        names = [n for loc in locations if isinstance(loc, dict) and (n := as_str(loc.get("displayName")))]
        return "; ".join(names) or None
    return None


def meeting_link_sources(item: dict[str, Any]) -> list[tuple[str, Any]]:
    """The texts searched for the meeting link, in priority order, each with the field it comes from (the dashboard
    names where an event's link was found)."""
    online, body, location = item.get("onlineMeeting"), item.get("body"), item.get("location")
    sources: list[tuple[str, Any]] = [
        ("onlineMeeting.joinUrl", as_str(online.get("joinUrl")) if isinstance(online, dict) else None),
        ("onlineMeetingUrl", item.get("onlineMeetingUrl")),
        ("location.displayName", as_str(location.get("displayName")) if isinstance(location, dict) else None),
    ]
    if isinstance(locations := item.get("locations"), list):
        sources += [
            (f"locations[{index}].displayName", as_str(loc.get("displayName")))
            for index, loc in enumerate(locations)
            if isinstance(loc, dict)
        ]
    sources += [("body.content", as_str(body.get("content")) if isinstance(body, dict) else None)]
    sources += [("subject", item.get("subject"))]
    return sources


def normalize_event(item: dict[str, Any]) -> NormalizedEvent | None:
    """One event of a calendarView/delta or events GET reply, or None when it has no usable id.
    `@removed` entries are not events: the listing reports their ids separately."""
    event_id = as_str(item.get("id"))
    if not event_id:
        return None
    all_day = item.get("isAllDay") is True
    original_zone = as_str(item.get("originalStartTimeZone"))
    start_value = item.get("start")
    own_zone = original_zone if original_zone and original_zone != _CUSTOM_ZONE else None
    time_zone = own_zone or (as_str(start_value.get("timeZone")) if isinstance(start_value, dict) else None)
    cancelled = item.get("isCancelled") is True
    organizer_email, organizer_name = _email(item.get("organizer"))
    user_is_organizer = item.get("isOrganizer") is True
    url, platform = meeting_link(*(text for _, text in meeting_link_sources(item)))
    return NormalizedEvent(
        platform_uuid=event_id,
        is_deleted=cancelled,
        start_time=_time(start_value, all_day=all_day, event_zone=own_zone),
        end_time=_time(item.get("end"), all_day=all_day, event_zone=own_zone),
        is_all_day=all_day,
        time_zone=time_zone,
        name=truncate(as_str(item.get("subject")), MAX_NAME_CHARS),
        status="cancelled" if cancelled else "confirmed",
        location=truncate(_location(item), MAX_LOCATION_CHARS),
        organizer={"email": organizer_email, "name": organizer_name}
        if isinstance(item.get("organizer"), dict)
        else None,
        organizer_is_owner=user_is_organizer,
        attendees=_attendees(item.get("attendees"), organizer_email, user_is_organizer),
        ical_uid=as_str(item.get("iCalUId")),
        recurring_event_id=as_str(item.get("seriesMasterId")),
        html_link=as_str(item.get("webLink")),
        meeting_url=url,
        meeting_platform=platform,
        raw=bound_raw(item, _RAW_TEXT_PATHS),
    )
