"""When a push notification makes its calendar due: at once after a quiet spell, else after the debounce.

The first notification after a quiet spell syncs immediately (a leading edge), so a lone change is visible after
one incremental call rather than after the debounce. Notifications that arrive while a sync runs, or within the
debounce of the last one, move the due time to `now + debounce`; the running sync keeps that earlier due time
when it finishes, so a burst costs at most one more sync, never one per notification.

The rule is SQL over the calendar's row with bound times (`times`), so that a receiver moves the due time by one
prebuilt UPDATE without loading the row (a push is the API's commonest request under load: docs/benchmarks.md §5)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import BindParameter, ColumnElement, and_, bindparam, case, or_

from calsync.store.models import Calendar


def moment(name: str) -> BindParameter[datetime]:
    """A time bound by name, of the calendars' own timestamp type (SQLite stores it as text of one format)."""
    return bindparam(name, type_=Calendar.sync_due_at.type)


NOW, QUIET_SINCE, DEBOUNCED = moment("now"), moment("quiet_since"), moment("debounced")


def times(now: datetime, debounce: timedelta) -> dict[str, datetime]:
    """The values of the times the expressions below are written with."""
    return {"now": now, "quiet_since": now - debounce, "debounced": now + debounce}


# No sync of the calendar runs (or its lease has run out) and none finished within the debounce.
_SYNCING = and_(
    Calendar.lease_owner.is_not(None),
    or_(Calendar.lease_expires_at.is_(None), Calendar.lease_expires_at > NOW),
)
_RECENT = (Calendar.last_attempted_sync_at > QUIET_SINCE).is_(True)  # (NULL, never synced: not recent)
IS_QUIET: ColumnElement[bool] = ~or_(_SYNCING, _RECENT)

PUSH_DUE_AT: ColumnElement[datetime] = case((IS_QUIET, NOW), else_=DEBOUNCED)
