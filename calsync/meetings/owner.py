"""Who owns a calendar (its user's email address): internal/external and "own events" are decided against it."""

from __future__ import annotations

from collections.abc import Iterable

from calsync.providers.base import NormalizedEvent

# Google calendars that are not a user's (shared, holidays, resources) have ids in these domains.
_NOT_A_MAILBOX = (".calendar.google.com", "resource.calendar.google.com")


def email_like(value: str | None) -> str | None:
    """`value` lower-cased when it looks like a user's email address, else None."""
    if not value or "@" not in value or any(value.endswith(suffix) for suffix in _NOT_A_MAILBOX):
        return None
    local, _, domain = value.rpartition("@")
    return value.lower() if local and "." in domain else None


def owner_from_events(events: Iterable[NormalizedEvent]) -> str | None:
    """The calendar owner as the events show it: the attendee flagged `self` (Google), or the organizer of an event
    the signed-in user organizes (Google's `organizer.self`, Graph's `isOrganizer`)."""
    for event in events:
        for attendee in event.attendees:
            if attendee.is_self and (email := email_like(attendee.email)):
                return email
        organizer = event.raw.get("organizer") if isinstance(event.raw, dict) else None
        own = (isinstance(organizer, dict) and organizer.get("self") is True) or event.raw.get("isOrganizer") is True
        if own and event.organizer and (email := email_like(event.organizer.get("email"))):
            return email
    return None


def domain_of(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email.rpartition("@")[2].lower() or None
