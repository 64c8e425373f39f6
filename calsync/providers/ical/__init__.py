"""iCalendar (RFC 5545) for the CalDAV and ICS providers: parse bytes, expand series in the sync window, and
turn each instance into a `NormalizedEvent`. Parsing and expansion are the `icalendar` and
`recurring-ical-events` libraries; this package only isolates failures and maps fields."""

from calsync.providers.ical.expand import Expansion, expand_calendar, parse_calendar
from calsync.providers.ical.normalize import instance_id, normalize_instance

__all__ = ["Expansion", "expand_calendar", "instance_id", "normalize_instance", "parse_calendar"]
