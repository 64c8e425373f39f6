"""Queries over one calendar, shared by the Google and Graph routes: windowed listings (with series
expanded or not) and "what changed after sequence N". Rows are stored events or generated instances;
the platform renderers turn them into JSON."""

from __future__ import annotations

import bisect
from datetime import datetime

from calsync_emulator import recurrence
from calsync_emulator.model import Calendar, Event, EventKind, Instance
from calsync_emulator.timeutil import timestamp

Row = Event | Instance


def row_start(cal: Calendar, row: Row) -> float:
    return timestamp(row.start, cal.tz)


def _in_window(cal: Calendar, row: Row, lo: float | None, hi: float | None) -> bool:
    if hi is not None and timestamp(row.start, cal.tz) >= hi:
        return False
    return lo is None or timestamp(row.end, cal.tz) > lo


def window_rows(
    cal: Calendar,
    lo: float | None,
    hi: float | None,
    horizon: datetime,
    *,
    expand: bool,
    include_deleted: bool = False,
) -> list[Row]:
    """Events overlapping [lo, hi) (end > lo, start < hi), ordered by start then id.

    expand=True: singles, exceptions and generated instances (no masters) - Google singleEvents=true
    and Graph calendarView. expand=False: singles, exceptions and the masters of series that have an
    instance in the window - Google's default listing.
    """
    rows: list[Row] = []
    first = 0 if lo is None else bisect.bisect_left(cal.by_start, (lo - cal.max_duration, ""))
    last = len(cal.by_start) if hi is None else bisect.bisect_left(cal.by_start, (hi, ""))
    for _, event_id in cal.by_start[first:last]:
        event = cal.events[event_id]
        if lo is None or timestamp(event.end, cal.tz) > lo:
            rows.append(event)
    for master in cal.masters.values():
        instances = recurrence.instances_between(master, lo, hi, horizon)
        if expand:
            rows.extend(i for i in instances if i.id not in cal.events)
        elif instances:
            rows.append(master)
    if include_deleted:
        for event in cal.events.values():
            if not event.deleted or event.kind is EventKind.GONE:
                continue
            if event.kind is EventKind.MASTER and expand:
                continue
            if event.kind is EventKind.MASTER or _in_window(cal, event, lo, hi):
                rows.append(event)
    rows.sort(key=lambda r: (row_start(cal, r), r.id))
    return rows


def changed_since(cal: Calendar, since: int, until: int) -> list[Event]:
    """The events whose last change has a sequence number in (since, until], in change order."""
    out: list[Event] = []
    for seq, event_id in cal.log[bisect.bisect_right(cal.log, (since, "\U0010ffff")) :]:
        if seq > until:
            break
        event = cal.events.get(event_id)
        if event is not None and event.seq == seq:
            out.append(event)
    return out


def google_changes(
    cal: Calendar, since: int, until: int, *, expand: bool, lo: float | None, hi: float | None, horizon: datetime
) -> list[Row]:
    """Google incremental results: every changed item, deletions as cancelled stubs. With singleEvents a
    changed series is reported as all its instances (within the original full sync's window)."""
    rows: list[Row] = []
    for event in changed_since(cal, since, until):
        if event.kind is EventKind.MASTER and expand:
            if not event.deleted:
                instances = recurrence.instances_between(event, lo, hi, horizon)
                rows.extend(i for i in instances if i.id not in cal.events)
        elif event.kind is EventKind.GONE and not expand:
            continue  # the changed master itself stands for its vanished instances
        else:
            rows.append(event)
    return rows


def graph_changes(
    cal: Calendar, since: int, until: int, *, lo: float, hi: float, horizon: datetime
) -> tuple[list[Row], list[str]]:
    """Graph delta results: (changed instances in the window, ids to report as @removed). Items changed
    outside the window are reported removed too, as calendarView delta does."""
    rows: list[Row] = []
    removed: list[str] = []
    for event in changed_since(cal, since, until):
        if event.kind is EventKind.MASTER:
            if not event.deleted:
                instances = recurrence.instances_between(event, lo, hi, horizon)
                rows.extend(i for i in instances if i.id not in cal.events)
        elif event.deleted or not _in_window(cal, event, lo, hi):
            removed.append(event.id)
        else:
            rows.append(event)
    return rows, removed


def find_row(cal: Calendar, event_id: str, horizon: datetime) -> Row | None:
    """A stored event (possibly deleted), or a generated instance addressed by its instance id."""
    event = cal.events.get(event_id)
    if event is not None:
        return event
    parts = recurrence.split_instance_id(event_id)
    if parts is None or parts[0] not in cal.masters:
        return None
    master = cal.masters[parts[0]]
    starts, _ = recurrence.starts(master, horizon)
    for start in starts:
        if recurrence.instance_id(master.id, start) == event_id:
            return recurrence.make_instance(master, start)
    return None
