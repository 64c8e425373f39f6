"""One expanded VEVENT instance → `NormalizedEvent` (rules in docs/caldav.md, "What is read")."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from icalendar import Component, Event

from calsync.providers.base import Attendee, NormalizedEvent
from calsync.providers.normalize import (
    MAX_LOCATION_CHARS,
    MAX_NAME_CHARS,
    bound_raw,
    meeting_link,
    midnight_utc,
    truncate,
    zone,
)

_RESPONSE_STATUS = {
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentative",
    "NEEDS-ACTION": "needs_action",
}
_STATUSES = {"CONFIRMED": "confirmed", "TENTATIVE": "tentative", "CANCELLED": "cancelled"}
# Vendors' conference properties, in priority order, before the standard free-text fields.
_CONFERENCE_PROPERTIES = (
    "CONFERENCE",
    "X-GOOGLE-CONFERENCE",
    "X-MICROSOFT-SKYPETEAMSMEETINGURL",
    "X-MICROSOFT-ONLINEMEETINGCONFLINK",
)
_RAW_TEXT_PATHS = (("description",), ("summary",))


def _text(component: Component, name: str) -> str | None:
    value = component.get(name)
    if value is None:
        return None
    if isinstance(value, list):  # a property that occurs several times (CONFERENCE): the first one
        value = value[0] if value else None
    text = str(value) if value is not None else ""
    return text or None


def _texts(component: Component, name: str) -> list[str]:
    value = component.get(name)
    values = value if isinstance(value, list) else [value] if value is not None else []
    return [str(v) for v in values if str(v)]


def _stamp(value: date | datetime) -> str:
    """RECURRENCE-ID in its compact iCalendar form: UTC when zoned, as written when floating or a date."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        return value.strftime("%Y%m%dT%H%M%S")
    return value.strftime("%Y%m%d")


def instance_id(uid: str, recurrence_id: date | datetime | None) -> str:
    """The occurrence key (UID, RECURRENCE-ID) as one platform id: `uid` alone for a single event."""
    return uid if recurrence_id is None else f"{uid}_{_stamp(recurrence_id)}"


def _instant(value: date | datetime, default_zone: str | None) -> tuple[datetime, bool]:
    """(UTC instant, is_all_day). A date stays its calendar date (midnight UTC); a floating time is read in the
    calendar's default zone, or UTC when it names none."""
    if not isinstance(value, datetime):
        return midnight_utc(value), True
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(default_zone) or UTC)
    return value.astimezone(UTC), False


def _zone_name(value: Any, default_zone: str | None) -> str | None:
    if isinstance(value, datetime) and value.tzinfo is not None:
        key = getattr(value.tzinfo, "key", None)
        return str(key) if key else ("UTC" if value.utcoffset() == timedelta(0) else None)
    return default_zone


def _address(value: Any) -> str | None:
    text = str(value).strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    return text or None


def _attendees(component: Component, organizer_email: str | None, self_email: str | None) -> list[Attendee]:
    value = component.get("ATTENDEE")
    values = value if isinstance(value, list) else [value] if value is not None else []
    result = []
    for item in values:
        email = _address(item)
        params = getattr(item, "params", {})
        lowered = email.lower() if email else None
        result.append(
            Attendee(
                email=email,
                name=params.get("CN"),
                response_status=_RESPONSE_STATUS.get(str(params.get("PARTSTAT", "NEEDS-ACTION")).upper()),
                is_organizer=lowered is not None and lowered == organizer_email,
                is_self=lowered is not None and lowered == self_email,
            )
        )
    return result


def normalize_instance(
    instance: Event,
    *,
    recurring: bool,
    default_zone: str | None = None,
    self_email: str | None = None,
    original_start: date | datetime | None = None,
) -> NormalizedEvent | None:
    """One instance returned by recurring-ical-events (its DTSTART/DTEND already moved to the occurrence), or None
    when it has no UID or no start. `recurring`: the series has RRULE, RDATE or overrides (the library stamps a
    RECURRENCE-ID on every instance it returns, single events included). `original_start` replaces the RECURRENCE-ID
    in the id where the library repeats one (the later instances of a THISANDFUTURE override). Raises on a property the library cannot read; the caller skips the series."""
    uid = _text(instance, "UID")
    dtstart = instance.get("DTSTART")
    if not uid or dtstart is None:
        return None
    start_value = dtstart.dt
    start, all_day = _instant(start_value, default_zone)
    end_value = instance.end if ("DTEND" in instance or "DURATION" in instance) else None
    if end_value is None:
        # RFC 5545 §3.6.1: a date start alone lasts one day, a date-time start alone is an instant.
        end = start + timedelta(days=1) if all_day else start
    else:
        end, _ = _instant(end_value, default_zone)
    end = max(end, start)  # end before start, seen in feeds: zero length rather than a negative interval
    rid = instance.get("RECURRENCE-ID") if recurring else None
    rid_value = original_start if original_start is not None else rid.dt if rid is not None else None
    status = _STATUSES.get((_text(instance, "STATUS") or "CONFIRMED").upper(), "confirmed")
    organizer_value = instance.get("ORGANIZER")
    organizer_email = _address(organizer_value) if organizer_value is not None else None
    organizer = (
        {"email": organizer_email, "name": getattr(organizer_value, "params", {}).get("CN")}
        if organizer_value is not None
        else None
    )
    summary = _text(instance, "SUMMARY")
    location = _text(instance, "LOCATION")
    description = _text(instance, "DESCRIPTION")
    candidates: list[str | None] = [text for name in _CONFERENCE_PROPERTIES for text in _texts(instance, name)]
    candidates += [_text(instance, "URL"), location, description, _text(instance, "X-ALT-DESC"), summary]
    url, platform = meeting_link(*candidates)
    lowered_self = self_email.lower() if self_email else None
    raw = {
        "uid": uid,
        "recurrence_id": _stamp(rid_value) if rid_value is not None else None,
        "sequence": _text(instance, "SEQUENCE"),
        "summary": summary,
        "description": description,
        "url": _text(instance, "URL"),
    }
    return NormalizedEvent(
        platform_uuid=instance_id(uid, rid_value),
        is_deleted=status == "cancelled",
        start_time=start,
        end_time=end,
        is_all_day=all_day,
        time_zone=_zone_name(start_value, default_zone),
        name=truncate(summary, MAX_NAME_CHARS),
        status=status,
        location=truncate(location, MAX_LOCATION_CHARS),
        organizer=organizer,
        attendees=_attendees(instance, organizer_email.lower() if organizer_email else None, lowered_self),
        ical_uid=uid,
        recurring_event_id=uid if rid is not None else None,
        html_link=None,
        meeting_url=url,
        meeting_platform=platform,
        raw=bound_raw(raw, _RAW_TEXT_PATHS),
    )
