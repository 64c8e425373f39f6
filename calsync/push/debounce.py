"""When a push notification makes its calendar due: at once after a quiet spell, else after the debounce.

The first notification after a quiet spell syncs immediately (a leading edge), so a lone change is visible after
one incremental call rather than after the debounce. Notifications that arrive while a sync runs, or within the
debounce of the last one, move the due time to `now + debounce`; the running sync keeps that earlier due time
when it finishes, so a burst costs at most one more sync, never one per notification.

The rule is SQL over the calendar's row, so that a receiver moves the due time by one UPDATE without loading the
row (a push is the API's commonest request under load: docs/benchmarks.md §5)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, literal, or_

from calsync.store.models import Calendar


def at(moment: datetime) -> ColumnElement[datetime]:
    """A time as a bound value of the calendars' own timestamp type (SQLite stores it as text of one format)."""
    return literal(moment, Calendar.sync_due_at.type)


def is_quiet(now: datetime, debounce: timedelta) -> ColumnElement[bool]:
    """No sync of the calendar runs (or its lease has run out) and none finished within the debounce."""
    syncing = and_(
        Calendar.lease_owner.is_not(None),
        or_(Calendar.lease_expires_at.is_(None), Calendar.lease_expires_at > at(now)),
    )
    recent = Calendar.last_attempted_sync_at > at(now - debounce)  # (NULL, never synced: not recent)
    return ~or_(syncing, recent.is_(True))


def push_due_at(now: datetime, debounce: timedelta) -> ColumnElement[datetime]:
    return case((is_quiet(now, debounce), at(now)), else_=at(now + debounce))
