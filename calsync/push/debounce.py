"""When a push notification makes its calendar due: at once after a quiet spell, else after the debounce.

The first notification after a quiet spell syncs immediately (a leading edge), so a lone change is visible after
one incremental call rather than after the debounce. Notifications that arrive while a sync runs, or within the
debounce of the last one, move the due time to `now + debounce`; the running sync keeps that earlier due time
when it finishes, so a burst costs at most one more sync, never one per notification."""

from __future__ import annotations

from datetime import datetime, timedelta

from calsync.store.models import Calendar


def is_quiet(calendar: Calendar, now: datetime, debounce: timedelta) -> bool:
    """No sync of the calendar runs (or its lease has run out) and none finished within the debounce."""
    syncing = calendar.lease_owner is not None and (
        calendar.lease_expires_at is None or calendar.lease_expires_at > now
    )
    recent = calendar.last_attempted_sync_at is not None and calendar.last_attempted_sync_at > now - debounce
    return not syncing and not recent


def push_due_at(calendar: Calendar, now: datetime, debounce: timedelta) -> datetime:
    return now if is_quiet(calendar, now, debounce) else now + debounce
