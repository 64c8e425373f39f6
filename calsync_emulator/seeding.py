"""Deterministic bulk seeding: many accounts with many events in one call.

Accounts, credentials and calendars are created at once; each calendar's events are generated on its
first access from (seed, calendar ordinal), so seeding 10,000 accounts takes well under a second and
only calendars that are actually synced cost memory. `lazy=False` generates everything up front.
Same seed and parameters, same population (ids, times, titles); credentials follow documented patterns.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from functools import lru_cache
from typing import Any

from calsync_emulator.directory import CalendarSpec
from calsync_emulator.model import Attendee, Calendar, Event, EventKind, Platform
from calsync_emulator.state import EmulatorState
from calsync_emulator.timeutil import zone

_WEEKDAYS = ["MO", "TU", "WE", "TH", "FR"]


@dataclass(slots=True, frozen=True)
class SeedParams:
    seed: int = 0
    google_accounts: int = 0
    microsoft_accounts: int = 0
    calendars_per_account: int = 1
    events_per_calendar: int = 200
    recurring_per_calendar: int = 5
    start: date | None = None  # first day of the dense period; default: today (emulated clock)
    days: int = 35
    time_zone: str = "UTC"
    lazy: bool = True
    # 0: every account its own events; n: account i of a platform gets the events of its account i % n (same ids),
    # so a benchmark can copy the synced state of n accounts onto the others instead of syncing them all.
    distinct_accounts: int = 0


def credentials(seed: int, platform: Platform, index: int) -> dict[str, str]:
    """The documented credential pattern of seeded account `index`."""
    if platform is Platform.GOOGLE:
        return {
            "account_id": f"seed{seed}-g{index}",
            "email": f"user{index}@seed{seed}.example.com",
            "client_id": f"seed{seed}-google.apps.googleusercontent.com",
            "client_secret": f"seed{seed}-google-secret",
            "refresh_token": f"1//seed{seed}-g{index}",
        }
    return {
        "account_id": f"seed{seed}-m{index}",
        "email": f"user{index}@seed{seed}.onmicrosoft.com",
        "client_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"calsync-emulator-seed-{seed}-microsoft")),
        "client_secret": f"seed{seed}-microsoft-secret",
        "refresh_token": f"M.C5seed{seed}-m{index}",
    }


def seed_population(state: EmulatorState, params: SeedParams) -> dict[str, Any]:
    started = time.perf_counter()
    start_day = params.start or state.now().date()
    seeded_at = state.now()  # every generation of a calendar must give identical events
    calendars = 0
    per_account = params.calendars_per_account
    for platform, count in ((Platform.GOOGLE, params.google_accounts), (Platform.MICROSOFT, params.microsoft_accounts)):
        base = 0 if platform is Platform.GOOGLE else params.google_accounts * per_account
        for index in range(count):
            source = index % params.distinct_accounts if params.distinct_accounts else index
            cred = credentials(params.seed, platform, index)
            extra = [
                CalendarSpec(
                    name=f"Calendar {c}",
                    id=f"seed{params.seed}{platform.value[0]}{index}c{c}"
                    + ("@group.calendar.google.com" if platform is Platform.GOOGLE else ""),
                )
                for c in range(1, params.calendars_per_account)
            ]
            account = state.directory.create_account(
                platform,
                account_id=cred["account_id"],
                email=cred["email"],
                display_name=f"Seed User {index}",
                client_id=cred["client_id"],
                client_secret=cred["client_secret"],
                refresh_token=cred["refresh_token"],
                time_zone=params.time_zone,
                calendars=extra,
                user_id=str(uuid.uuid5(uuid.NAMESPACE_URL, cred["account_id"]))
                if platform is Platform.MICROSOFT
                else str(10**19 + index),
                primary_calendar_id=None if platform is Platform.GOOGLE else f"AAMkAGseed{params.seed}m{index}c0",
            )
            for position, cal in enumerate(account.calendars.values()):
                cal.seed = _generator(params, platform, base + source * per_account + position, start_day, seeded_at)
                calendars += 1
                if not params.lazy:
                    state.directory.calendar(cal.id)
    accounts = params.google_accounts + params.microsoft_accounts
    return {
        "accounts": accounts,
        "calendars": calendars,
        "events_per_calendar": params.events_per_calendar,
        "lazy": params.lazy,
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
        "google": credentials(params.seed, Platform.GOOGLE, 0) | {"pattern": "index i: replace 0 by i"},
        "microsoft": credentials(params.seed, Platform.MICROSOFT, 0) | {"pattern": "index i: replace 0 by i"},
    }


def _generator(
    params: SeedParams, platform: Platform, ordinal: int, start_day: date, seeded_at: datetime
) -> Callable[[Calendar], None]:
    def fill(cal: Calendar) -> None:
        _fill(params, platform, ordinal, start_day, seeded_at, cal)

    return fill


@lru_cache(maxsize=8192)
def _attendee(number: int, response: str) -> Attendee:
    # a shared pool: seeded events reference their attendees instead of each holding copies
    return Attendee(email=f"guest{number}@example.com", response=response)


@lru_cache(maxsize=65536)
def _text(template: str, value: int) -> str:
    return template.format(value)


_RESPONSES = ("accepted", "needsAction", "tentative", "declined")


def _fill(params: SeedParams, platform: Platform, ordinal: int, start_day: date, now: datetime, cal: Calendar) -> None:
    rng = random.Random(f"{params.seed}/{ordinal}")
    tz = zone(cal.time_zone)
    prefix = f"s{params.seed}c{ordinal}e" if platform is Platform.GOOGLE else f"AAMkAGs{params.seed}c{ordinal}e"
    singles = max(0, params.events_per_calendar - params.recurring_per_calendar)
    for j in range(params.events_per_calendar):
        day = start_day + timedelta(days=rng.randrange(-7, params.days))
        start_local = datetime.combine(day, dtime(rng.randrange(7, 19), rng.choice((0, 15, 30, 45))), tzinfo=tz)
        minutes = rng.choice((30, 30, 45, 60, 60, 90))
        all_day = rng.random() < 0.05
        event = Event(
            id=f"{prefix}{j}",
            calendar_id=cal.id,
            kind=EventKind.SINGLE,
            start=day if all_day else start_local,
            end=day + timedelta(days=1) if all_day else start_local + timedelta(minutes=minutes),
            time_zone=cal.time_zone,
            created=now,
            updated=now,
            summary=_text("Meeting {}", j),
            description="Agenda: status, blockers, next steps." if rng.random() < 0.5 else "",
            location=_text("Room {}", rng.randrange(1, 40)) if rng.random() < 0.3 else "",
            attendees=tuple(_attendee(rng.randrange(1000), rng.choice(_RESPONSES)) for _ in range(rng.randrange(5))),
            meeting_url=_meeting_url(rng, platform) if rng.random() < 0.3 else None,
        )
        if j >= singles:
            _make_series(rng, event, start_day, j - singles, tz)
        cal.events[event.id] = event
        cal.index(event)


def _make_series(rng: random.Random, event: Event, start_day: date, n: int, tz: Any) -> None:
    event.kind = EventKind.MASTER
    first = start_day - timedelta(days=14 - n)
    if isinstance(event.start, datetime) and isinstance(event.end, datetime):
        length = event.end - event.start
        event.start = datetime.combine(first, event.start.timetz())
        event.end = event.start + length
    else:
        event.start, event.end = first, first + timedelta(days=1)
    pattern = n % 3
    if pattern == 0:
        days = ",".join(sorted(rng.sample(_WEEKDAYS, 2), key=_WEEKDAYS.index))
        event.recurrence = (f"RRULE:FREQ=WEEKLY;BYDAY={days};COUNT=20",)
    elif pattern == 1:
        event.recurrence = ("RRULE:FREQ=DAILY;INTERVAL=2",)
    else:
        until = datetime.combine(first + timedelta(days=90), dtime(), tzinfo=UTC).strftime("%Y%m%dT%H%M%SZ")
        event.recurrence = (f"RRULE:FREQ=WEEKLY;UNTIL={until}",)


def _meeting_url(rng: random.Random, platform: Platform) -> str:
    pick = rng.random()
    if platform is Platform.GOOGLE and pick < 0.6:
        letters = "abcdefghijklmnopqrstuvwxyz"
        code = "-".join("".join(rng.choice(letters) for _ in range(n)) for n in (3, 4, 3))
        return f"https://meet.google.com/{code}"
    if platform is Platform.MICROSOFT and pick < 0.6:
        return f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{rng.randrange(10**12)}%40thread.v2/0"
    return f"https://us02web.zoom.us/j/{rng.randrange(10**10, 10**11)}?pwd={rng.randrange(10**6)}"
