"""Expansion of recurring series into instances (RRULE/EXRULE/RDATE/EXDATE via dateutil).

Expansions are cached on the master and rebuilt only when the master changes or the horizon moves
to a new day, so listing a calendar with series costs a bisect, not a re-expansion.
"""

from __future__ import annotations

import bisect
import re
from datetime import UTC, date, datetime, timedelta, tzinfo

from dateutil.rrule import rruleset, rrulestr

from calsync_emulator.model import Event, Instance
from calsync_emulator.timeutil import TimeValue, find_zone, shift, timestamp, zone

MAX_INSTANCES = 5000  # per series: a runaway rule must not eat the emulator

_UNTIL_DATE = re.compile(r"UNTIL=(\d{8})(?=;|$)")
_UNTIL_LOCAL = re.compile(r"UNTIL=(\d{8}T\d{6})(?=;|$)")
_UNTIL_UTC = re.compile(r"UNTIL=(\d{8})T\d{6}Z")
_RULE_PREFIXES = ("RRULE", "EXRULE", "RDATE", "EXDATE")


def _normalize(lines: tuple[str, ...], timed: bool) -> str:
    """dateutil insists UNTIL matches DTSTART's awareness; Google accepts either form, so adapt."""
    out = []
    for line in lines:
        if not line.upper().startswith(_RULE_PREFIXES):
            continue
        if line.upper().startswith(("RRULE", "EXRULE")):
            if timed:
                line = _UNTIL_DATE.sub(r"UNTIL=\1T235959Z", line)
                line = _UNTIL_LOCAL.sub(r"UNTIL=\1Z", line)
            else:
                line = _UNTIL_UTC.sub(r"UNTIL=\1T235959", line)
        out.append(line)
    return "\n".join(out)


def _tzids(name: str) -> tzinfo:
    found = find_zone(name)
    if found is None:
        raise ValueError(f"unknown TZID {name!r}")
    return found


def build_ruleset(master: Event) -> rruleset:
    timed = isinstance(master.start, datetime)
    if isinstance(master.start, datetime):
        dtstart = master.start.astimezone(zone(master.time_zone))
    else:
        dtstart = datetime(master.start.year, master.start.month, master.start.day)
    result = rrulestr(_normalize(master.recurrence, timed), dtstart=dtstart, forceset=True, tzids=_tzids)
    assert isinstance(result, rruleset)
    return result


def validate(master: Event) -> None:
    """Raise ValueError for a recurrence dateutil cannot expand (the control API turns it into 400)."""
    try:
        build_ruleset(master)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"invalid recurrence: {exc}") from exc


def starts(master: Event, horizon: datetime) -> tuple[list[TimeValue], list[float]]:
    """All instance starts of a series up to `horizon`, sorted, with their timestamps (all-day ones at
    midnight in the series' zone). Cached per master change and horizon day."""
    key = (master.seq, int(horizon.timestamp() // 86400))
    if master.expansion is not None and master.expansion[0] == key:
        return master.expansion[1], master.expansion[2]
    rules = build_ruleset(master)
    timed = isinstance(master.start, datetime)
    limit = horizon if timed else horizon.replace(tzinfo=None)
    result: list[TimeValue] = []
    for occurrence in rules:
        if occurrence > limit or len(result) >= MAX_INSTANCES:
            break
        result.append(occurrence if timed else occurrence.date())
    tz = zone(master.time_zone)
    keys = [timestamp(s, tz) for s in result]
    master.expansion = (key, result, keys)
    return result, keys


def instance_id(master_id: str, start: TimeValue) -> str:
    if isinstance(start, datetime):
        return f"{master_id}_{start.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    return f"{master_id}_{start.strftime('%Y%m%d')}"


def split_instance_id(value: str) -> tuple[str, TimeValue] | None:
    """`{master}_{YYYYMMDD[THHMMSSZ]}` -> (master id, original start), else None."""
    master_id, sep, suffix = value.rpartition("_")
    if not sep:
        return None
    try:
        if len(suffix) == 8:
            return master_id, datetime.strptime(suffix, "%Y%m%d").date()
        if len(suffix) == 16:
            return master_id, datetime.strptime(suffix, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return None


def make_instance(master: Event, start: TimeValue) -> Instance:
    length = _length(master)
    return Instance(instance_id(master.id, start), master, start, shift(start, length))


def _length(master: Event) -> timedelta:
    if isinstance(master.start, datetime) and isinstance(master.end, datetime):
        return master.end - master.start
    assert isinstance(master.start, date) and isinstance(master.end, date)
    return timedelta(days=(master.end - master.start).days)


def instances_between(master: Event, lo: float | None, hi: float | None, horizon: datetime) -> list[Instance]:
    """Instances with end > lo and start < hi (Google's and Graph's window rule), None = unbounded."""
    all_starts, keys = starts(master, horizon)
    length = _length(master).total_seconds()
    first = 0 if lo is None else bisect.bisect_right(keys, lo - length)
    last = len(keys) if hi is None else bisect.bisect_left(keys, hi)
    out = []
    for i in range(first, last):
        if lo is None or keys[i] + length > lo:
            out.append(make_instance(master, all_starts[i]))
    return out
