"""Bytes → instances in a window, one UID at a time, so one malformed series is skipped and counted, never the
whole calendar."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

import recurring_ical_events
import x_wr_timezone
from icalendar import Calendar, Component, Event

from calsync.providers.base import NormalizedEvent
from calsync.providers.ical.normalize import normalize_instance

log = logging.getLogger(__name__)


@dataclass
class Expansion:
    """What one calendar (a feed, or one CalDAV resource) yielded in the window."""

    events: list[NormalizedEvent] = field(default_factory=list)
    skipped: int = 0  # components (series) that could not be read or expanded
    uids: set[str] = field(default_factory=set)  # UIDs seen, also those with no instance in the window


def parse_calendar(data: bytes | str) -> Calendar | None:
    """The VCALENDAR in `data`, or None when it is not iCalendar at all. icalendar is error-tolerant: a bad
    property value becomes `vBroken` on its component instead of failing the parse."""
    try:
        calendars = Calendar.from_ical(data, multiple=True)
    except Exception:  # the library raises ValueError, KeyError, IndexError... on garbage; all mean "not a calendar"
        return None
    for calendar in calendars:
        if isinstance(calendar, Calendar) and calendar.name == "VCALENDAR":
            return calendar
    return None


def _standardized(calendar: Calendar) -> Calendar:
    """X-WR-TIMEZONE applied once for the whole calendar (Google exports UTC times meant in that zone)."""
    try:
        result = x_wr_timezone.to_standard(calendar)
    except Exception:  # a broken X-WR-TIMEZONE must not lose the calendar: its times stay as written
        log.debug("ical.x_wr_timezone_failed")
        return calendar
    return result if isinstance(result, Calendar) else calendar


def _group(calendar: Calendar) -> tuple[list[Component], dict[str, list[Component]], int]:
    """(VTIMEZONEs, VEVENTs by UID, VEVENTs without a UID)."""
    zones: list[Component] = []
    by_uid: dict[str, list[Component]] = defaultdict(list)
    missing = 0
    for component in calendar.subcomponents:
        if component.name == "VTIMEZONE":
            zones.append(component)
        elif component.name == "VEVENT":
            uid = component.get("UID")
            if uid is None or not str(uid).strip():
                missing += 1
            else:
                by_uid[str(uid)].append(component)
    return zones, by_uid, missing


def _normalized(
    instances: list[Component], *, recurring: bool, default_zone: str | None, self_email: str | None
) -> list[NormalizedEvent | None]:
    """The instances of one series. The library gives the later instances of a THISANDFUTURE override that
    override's RECURRENCE-ID; each gets its own original start back (its shift from the override's first instance
    added to that RECURRENCE-ID), so ids stay unique."""
    first_start: dict[object, date | datetime] = {}
    result = []
    for instance in instances:
        if not isinstance(instance, Event):
            continue
        original: date | datetime | None = None
        rid = instance.get("RECURRENCE-ID") if recurring else None
        if rid is not None:
            start = instance.get("DTSTART").dt
            seen = first_start.setdefault(rid.dt, start)
            if seen is not start:
                original = rid.dt + (start - seen)
        result.append(
            normalize_instance(
                instance,
                recurring=recurring,
                default_zone=default_zone,
                self_email=self_email,
                original_start=original,
            )
        )
    return result


def expand_calendar(
    calendar: Calendar,
    window_start: datetime,
    window_end: datetime,
    *,
    self_email: str | None = None,
) -> Expansion:
    """Every VEVENT instance overlapping [window_start, window_end), normalized. RRULE, RDATE, EXDATE, overrides
    (RECURRENCE-ID, THISANDFUTURE, SEQUENCE precedence) and DST are recurring-ical-events' job."""
    calendar = _standardized(calendar)
    default_zone = calendar.get("X-WR-TIMEZONE")
    zones, by_uid, missing = _group(calendar)
    result = Expansion(skipped=missing)
    for uid, components in by_uid.items():
        result.uids.add(uid)
        single = Calendar()
        for zone in zones:
            single.add_component(zone)
        for component in components:
            single.add_component(component)
        recurring = any(name in c for c in components for name in ("RRULE", "RDATE", "RECURRENCE-ID"))
        default = str(default_zone) if default_zone else None
        try:
            instances = recurring_ical_events.of(single).between(window_start, window_end)
            normalized = _normalized(instances, recurring=recurring, default_zone=default, self_email=self_email)
        except Exception as exc:  # one unreadable series (bad RRULE, unparseable DTSTART...) is skipped, not fatal
            log.info("ical.series_skipped", extra={"error": type(exc).__name__})
            result.skipped += 1
            continue
        result.events.extend(event for event in normalized if event is not None)
    return result
