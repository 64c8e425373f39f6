"""E-mail address helpers the providers and the meeting rules share: which values are a user's mailbox, and its domain."""

from __future__ import annotations

# Google calendars that are not a user's (shared, holidays, resources) have ids in these domains.
_NOT_A_MAILBOX = (".calendar.google.com", "resource.calendar.google.com")


def email_like(value: str | None) -> str | None:
    """`value` lower-cased when it looks like a user's email address, else None."""
    if not value or "@" not in value or any(value.endswith(suffix) for suffix in _NOT_A_MAILBOX):
        return None
    local, _, domain = value.rpartition("@")
    return value.lower() if local and "." in domain else None


def domain_of(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email.rpartition("@")[2].lower() or None
