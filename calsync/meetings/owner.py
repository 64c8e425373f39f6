"""Who owns a calendar (its user's email address): internal/external and "own events" are decided against it."""

from __future__ import annotations

from collections.abc import Iterable

from calsync.emails import email_like
from calsync.providers.base import NormalizedEvent


def owner_from_events(events: Iterable[NormalizedEvent]) -> str | None:
    """The calendar owner as the events show it: the attendee flagged `self`, or the organizer of an event the
    calendar's owner organizes (`organizer_is_owner`, which each platform's normalization sets)."""
    for event in events:
        for attendee in event.attendees:
            if attendee.is_self and (email := email_like(attendee.email)):
                return email
        if event.organizer_is_owner and event.organizer and (email := email_like(event.organizer.get("email"))):
            return email
    return None
