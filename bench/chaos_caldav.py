"""CalDAV calendars under chaos: a real Radicale among the platforms (bench/chaos.py).

Radicale runs as a subprocess (calsync_emulator.radicale, as the CalDAV tests start it); calsync reaches it only
through two fronts (calsync_emulator.caldav_front): one passes sync-collection through, the other refuses it like a
server without RFC 6578, so both of the provider's paths run under the chaos. Each CalDAV calendar is one Radicale
user with one collection, connected through `POST /api/v1/calendars` with `platform: "caldav"`.

The harness writes straight to Radicale, as the user's calendar app would (PUT of whole resources, DELETE):
single events, daily/weekly series, overridden instances (RECURRENCE-ID) and cancelled instances (EXDATE). Faults
hit the fronts only: answering the next 1-4 requests 503 with Retry-After 1-3 s (iCloud does), or not listening for
a quarter to half of a polling interval.
The truth read at the end is Radicale's own data (a calendar-query), expanded by `recurring-ical-events`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import icalendar
import recurring_ical_events

from calsync_emulator.caldav_front import CalDavFront
from calsync_emulator.radicale import Dav, Radicale, start_radicale

STAMP = "%Y%m%dT%H%M%SZ"
KINDS = ("unavailable_503", "unreachable")


@dataclass
class DavSeries:
    """A series as the harness last wrote it (the resource is always rewritten whole from this)."""

    uid: str
    name: str
    start: datetime
    freq: str
    count: int
    minutes: int
    overrides: dict[int, tuple[str, datetime]] = field(default_factory=dict)  # index -> (name, new start)
    exdates: set[int] = field(default_factory=set)

    @property
    def step(self) -> timedelta:
        return timedelta(days=1 if self.freq == "DAILY" else 7)

    def occurrence(self, index: int) -> datetime:
        return self.start + index * self.step

    def ics(self) -> str:
        duration = timedelta(minutes=self.minutes)
        lines = [
            *_head(),
            "BEGIN:VEVENT",
            f"UID:{self.uid}",
            "DTSTAMP:20260101T000000Z",
            f"DTSTART:{self.start.strftime(STAMP)}",
            f"DTEND:{(self.start + duration).strftime(STAMP)}",
            f"RRULE:FREQ={self.freq};COUNT={self.count}",
            f"SUMMARY:{self.name}",
        ]
        lines += [f"EXDATE:{self.occurrence(i).strftime(STAMP)}" for i in sorted(self.exdates)]
        lines.append("END:VEVENT")
        for index, (name, start) in sorted(self.overrides.items()):
            lines += [
                "BEGIN:VEVENT",
                f"UID:{self.uid}",
                "DTSTAMP:20260101T000000Z",
                f"RECURRENCE-ID:{self.occurrence(index).strftime(STAMP)}",
                f"DTSTART:{start.strftime(STAMP)}",
                f"DTEND:{(start + duration).strftime(STAMP)}",
                f"SUMMARY:{name}",
                "END:VEVENT",
            ]
        return "\r\n".join([*lines, "END:VCALENDAR", ""])


def _head() -> list[str]:
    return ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calsync chaos//EN"]


def single_ics(uid: str, name: str, start: datetime, end: datetime) -> str:
    lines = [
        *_head(),
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20260101T000000Z",
        f"DTSTART:{start.strftime(STAMP)}",
        f"DTEND:{end.strftime(STAMP)}",
        f"SUMMARY:{name}",
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
    return "\r\n".join(lines)


@dataclass
class DavCalendar:
    """One CalDAV calendar: its writer, its collection, and the harness's memory of what it wrote."""

    dav: Dav
    collection: str  # on Radicale itself
    front: CalDavFront
    singles: dict[str, tuple[str, datetime, datetime]] = field(default_factory=dict)
    series: dict[str, DavSeries] = field(default_factory=dict)

    def connect_body(self) -> dict[str, Any]:
        return {
            "platform": "caldav",
            "server_url": self.front.url + "/",
            "username": self.dav.user,
            "password": self.dav.auth[1],
            "platform_uuid": self.collection.replace(self.dav.base, self.front.url, 1),
        }


class CalDavSide:
    """Radicale, its two fronts, the CalDAV calendars' writers and truth, and the fronts' faults."""

    def __init__(self, run_dir: Path, seed: int) -> None:
        self.run_dir = run_dir
        self.rng = random.Random(seed * 104729 + 3)
        self.radicale: Radicale | None = None
        self.fronts: list[CalDavFront] = []
        self.http = httpx.AsyncClient(timeout=30.0, trust_env=False)
        self.faults: Counter[str] = Counter()
        self.applied: Counter[str] = Counter()
        self.fault_log: list[dict[str, Any]] = []

    async def start(self) -> None:
        self.radicale = await asyncio.to_thread(start_radicale, self.run_dir / "radicale")
        self.fronts = [
            CalDavFront(self.radicale.url, sync_collection=True),
            CalDavFront(self.radicale.url, sync_collection=False),
        ]
        for front in self.fronts:
            await front.start()

    async def stop(self) -> None:
        for front in self.fronts:
            await front.stop()
        await self.http.aclose()
        if self.radicale is not None:
            await asyncio.to_thread(self.radicale.stop)

    async def new_calendar(self, index: int) -> DavCalendar:
        assert self.radicale is not None
        user, password = self.radicale.add_user(uuid.uuid4().hex)
        dav = Dav(self.http, self.radicale.url, user, password)
        collection = await dav.make_calendar("chaos", f"Chaos CalDAV {index}")
        return DavCalendar(dav, collection, self.fronts[index % len(self.fronts)])

    def revoke(self, cal: DavCalendar) -> None:
        """The account's password changes (iCloud: any Apple ID password change revokes app passwords)."""
        assert self.radicale is not None
        self.radicale.set_password(cal.dav.user, uuid.uuid4().hex)

    # -- changes, as a calendar app makes them

    async def create_single(self, cal: DavCalendar, name: str, start: datetime, end: datetime) -> str:
        uid = f"dav-{uuid.uuid4().hex[:12]}"
        cal.singles[uid] = (name, start, end)
        await cal.dav.put(cal.collection, uid, single_ics(uid, name, start, end))
        return uid

    async def create_series(
        self, cal: DavCalendar, name: str, start: datetime, freq: str, count: int, minutes: int
    ) -> DavSeries:
        series = DavSeries(f"dav-{uuid.uuid4().hex[:12]}", name, start, freq, count, minutes)
        cal.series[series.uid] = series
        await cal.dav.put(cal.collection, series.uid, series.ics())
        return series

    async def put_single(self, cal: DavCalendar, uid: str) -> None:
        await cal.dav.put(cal.collection, uid, single_ics(uid, *cal.singles[uid]))

    async def put_series(self, cal: DavCalendar, series: DavSeries) -> None:
        await cal.dav.put(cal.collection, series.uid, series.ics())

    async def delete(self, cal: DavCalendar, uid: str) -> None:
        cal.singles.pop(uid, None)
        cal.series.pop(uid, None)
        await cal.dav.delete(cal.collection, uid)

    # -- truth

    async def events(
        self, cal: DavCalendar, window: tuple[datetime, datetime]
    ) -> dict[str, tuple[str, datetime, datetime]]:
        """platform id -> (name, start, end) of the live instances, read from Radicale and expanded here."""
        live: dict[str, tuple[str, datetime, datetime]] = {}
        for text in (await cal.dav.resources(cal.collection)).values():
            calendar = icalendar.Calendar.from_ical(text)
            recurring = {
                str(c.get("UID"))
                for c in calendar.walk("VEVENT")
                if "RRULE" in c or "RDATE" in c or "RECURRENCE-ID" in c
            }
            for event in recurring_ical_events.of(calendar).between(*window):
                uid = str(event.get("UID"))
                start, end = _utc(event.decoded("DTSTART")), _utc(event.decoded("DTEND"))
                key = f"{uid}_{_utc(event.decoded('RECURRENCE-ID')).strftime(STAMP)}" if uid in recurring else uid
                live[key] = (str(event.get("SUMMARY") or ""), start, end)
        return live

    # -- faults on the fronts

    async def chaos(self, deadline: float, mean_gap: float, poll_seconds: float, note: Any) -> None:
        """Faults on the fronts until the deadline (time.monotonic()), the two kinds in turn (so that a short run
        has both, on both fronts). `poll_seconds`: how often calsync polls a CalDAV calendar, so how long a fault must last for
        calsync to meet it."""
        turn = 0
        while True:
            left = deadline - time.monotonic()
            await asyncio.sleep(max(0.0, min(self.rng.expovariate(1.0 / mean_gap), 2 * mean_gap, left)))
            if time.monotonic() >= deadline:
                return
            # Both kinds on one front, then both on the other: four faults cover every pair.
            front = self.fronts[(turn // len(KINDS)) % len(self.fronts)]
            kind = KINDS[turn % len(KINDS)]
            turn += 1
            which = "sync-collection" if front.sync_collection else "ctag/etag"
            self.faults[kind] += 1
            if kind == "unavailable_503":
                # The next few requests are refused, for at most one and a half polling intervals (CalDAV is
                # polled: a fault bounded by a few seconds alone would mostly pass unnoticed).
                retry_after, requests = self.rng.randint(1, 3), self.rng.randint(1, 4)
                limit = max(0.0, min(1.5 * poll_seconds, deadline - time.monotonic()))
                front.unavailable(limit, retry_after, requests)
                note("caldav_fault", kind=kind, front=which, requests=requests, retry_after=retry_after)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(front.spent(), limit)
                front.available()
            else:
                seconds = round(min(self.rng.uniform(0.25, 0.5) * poll_seconds, deadline - time.monotonic()), 1)
                note("caldav_fault", kind=kind, front=which, seconds=seconds)
                await front.down()
                try:
                    await asyncio.sleep(seconds)
                finally:
                    await front.up()

    async def calm(self) -> None:
        for front in self.fronts:
            front.available()
            await front.up()

    def report(self, calendars: int) -> dict[str, Any]:
        answers: Counter[str] = Counter()
        for front in self.fronts:
            answers.update(front.answers)
        return {
            "calendars": calendars,
            "changes": sum(self.applied.values()),
            "changes_by_kind": dict(self.applied.most_common()),
            "faults": dict(self.faults),
            "front_answers": dict(answers),
        }


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)
