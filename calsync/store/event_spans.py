"""Span classes: how long an event may last, as a small number stored with it (`calendar_events.span_class`).

A B-tree cannot find "the events running at X" (start before X, end after it): on an index by start the
candidates are every row that started before X, on an index by end every row that ends after it. But an event
of class c lasts at most SPAN_CLASS_LIMITS[c], so if it runs at X it started within that long before X. With an
index on (project, span_class, start_time, end_time) each class is one short index range, and the union of the
classes is exactly the running set (`calsync.store.queries.events`, docs/api.md "How event queries are planned").

The limits double from 30 minutes (a meeting's length varies by a factor of ~2 within a class, so at least about
half of a range's rows run at X); 26 hours holds an all-day event in any time zone, DST days included. The last
class is unbounded and its range is every such event that started before X: events longer than a year are rare.
A row whose class is not known (written by something other than the sync engine) has the column's default,
UNBOUNDED_SPAN, which is always true: only slower to search.
"""

from __future__ import annotations

from datetime import datetime, timedelta

SPAN_CLASS_LIMITS: tuple[timedelta, ...] = (
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
UNBOUNDED_SPAN = len(SPAN_CLASS_LIMITS)


def span_class(start: datetime, end: datetime) -> int:
    """The smallest class whose limit holds `end - start` (a negative length counts as zero)."""
    length = end - start
    for index, limit in enumerate(SPAN_CLASS_LIMITS):
        if length <= limit:
            return index
    return UNBOUNDED_SPAN


def earliest_start(span: int, point: datetime) -> datetime | None:
    """The earliest start an event of class `span` running at `point` can have; None for the unbounded class."""
    return point - SPAN_CLASS_LIMITS[span] if span < UNBOUNDED_SPAN else None
