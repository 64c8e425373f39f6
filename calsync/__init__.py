"""calsync: keeps Google and Microsoft calendars mirrored, wire-compatible with Attendee's calendar API."""

__version__ = "0.1.0"
