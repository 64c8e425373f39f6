"""Duration classes: a length of time between two of an event's time columns, stored with it as a small number,
so that a B-tree can answer a question about both columns at once.

A B-tree cannot find "the events running at X" (start before X, end after it): on an index by start the
candidates are every row that started before X, on an index by end every row that ends after it. But an event
whose *span class* is c lasts at most CLASS_LIMITS[c], so if it runs at X it started within that long before X.
With an index on (project, span_class, start_time, end_time) each class is one short index range, and the union
of the classes is exactly the running set (`calendar_events.span_class`).

"Updated at or after X, in creation order" is the same question about created_at and updated_at: the events
created long ago and modified since lie anywhere in creation order, among many that were not modified. An event
whose *update-lag class* is c was last written at most CLASS_LIMITS[c] after it was created, so if it was updated
at or after X it was created at or after X - CLASS_LIMITS[c]. With an index on (project, update_lag_class,
created_at, ...) each class is one walk in creation order that starts there (`calendar_events.update_lag_class`).
Both are used by calsync.store.queries.events; docs/api.md "How an events page is read" has the design.

The limits double from 30 minutes (a meeting's length varies by a factor of ~2 within a class, so at least about
half of a range's rows run at X); 26 hours holds an all-day event in any time zone, DST days included. The last
class is unbounded and its range is every such event that began before X: events longer than a year, or written
again more than a year after they were first stored, are rare. A row whose class is not known has the column's
default, UNBOUNDED_CLASS, which is always true: only slower to search.
"""

from __future__ import annotations

from datetime import datetime, timedelta

CLASS_LIMITS: tuple[timedelta, ...] = (
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=4),
    timedelta(hours=8),
    timedelta(hours=26),
    timedelta(days=3),
    timedelta(days=8),
    timedelta(days=32),
    timedelta(days=367),
)
UNBOUNDED_CLASS = len(CLASS_LIMITS)


def duration_class(length: timedelta) -> int:
    """The smallest class whose limit holds `length` (a negative length counts as zero)."""
    for index, limit in enumerate(CLASS_LIMITS):
        if length <= limit:
            return index
    return UNBOUNDED_CLASS


def span_class(start: datetime, end: datetime) -> int:
    """The class of an event's length."""
    return duration_class(end - start)


def update_lag_class(created_at: datetime, updated_at: datetime) -> int:
    """The class of the time from an event's creation to its last write (0 for a row never rewritten)."""
    return duration_class(updated_at - created_at)


def earliest_begin(duration: int, point: datetime) -> datetime | None:
    """The earliest a duration of class `duration` that ends at or after `point` can have begun (an event running
    at `point` started, an event updated since `point` was created); None for the unbounded class, and where
    the subtraction would pass the earliest datetime (a filter at 0001-01-01): no stored value lies before it."""
    if duration >= UNBOUNDED_CLASS or point - datetime.min.replace(tzinfo=point.tzinfo) < CLASS_LIMITS[duration]:
        return None
    return point - CLASS_LIMITS[duration]
