"""The emulator's in-memory world: accounts, calendars, events, push channels and subscriptions.

Events are stored platform-neutrally and rendered per platform on the way out. Every change to a
calendar gets the next sequence number of that calendar's change log; sync tokens and delta links
are just "changes after sequence N" plus the calendar's epoch (bumped to invalidate them).
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from calsync_emulator.timeutil import TimeValue, timestamp, zone


class Platform(enum.StrEnum):
    GOOGLE = "google"
    MICROSOFT = "microsoft"


class EventKind(enum.StrEnum):
    SINGLE = "single"  # a one-off event
    MASTER = "master"  # a recurring series; its instances are generated, not stored
    OVERRIDE = "override"  # a modified or cancelled instance of a series (an "exception")
    GONE = "gone"  # tombstone of a generated instance that vanished when its series changed


@dataclass(slots=True, frozen=True)
class Attendee:
    email: str
    name: str = ""
    response: str = "needsAction"  # Google vocabulary: needsAction | accepted | declined | tentative
    optional: bool = False


@dataclass(slots=True, eq=False)
class Event:
    id: str
    calendar_id: str
    kind: EventKind
    start: TimeValue
    end: TimeValue
    time_zone: str
    created: datetime
    updated: datetime
    summary: str = ""
    description: str = ""
    location: str = ""
    status: str = "confirmed"  # confirmed | tentative (cancellation is `deleted` / `ms_cancelled`)
    deleted: bool = False  # gone: Google status=cancelled stub, Graph @removed
    ms_cancelled: bool = False  # Graph isCancelled: the event lingers, visibly cancelled
    recurrence: tuple[str, ...] = ()
    master_id: str | None = None
    original_start: TimeValue | None = None
    attendees: tuple[Attendee, ...] = ()
    organizer_email: str = ""
    organizer_name: str = ""
    meeting_url: str | None = None
    ical_uid: str = ""
    sequence: int = 0
    seq: int = 0  # calendar change-log sequence number of the last change
    show_as: str = "busy"
    # ((seq, horizon day), sorted instance starts, their timestamps) of a master, rebuilt when the master changes
    expansion: tuple[tuple[int, int], list[TimeValue], list[float]] | None = None

    @property
    def all_day(self) -> bool:
        return not isinstance(self.start, datetime)

    @property
    def uid(self) -> str:
        """The iCalendar UID; derived from the id unless one was set (saves memory for seeded events)."""
        return self.ical_uid or f"{self.id}@emulator"


@dataclass(slots=True, eq=False)
class Instance:
    """One generated occurrence of a series master (never stored)."""

    id: str
    master: Event
    start: TimeValue
    end: TimeValue


@dataclass(slots=True, eq=False)
class Calendar:
    id: str
    account_id: str
    name: str
    time_zone: str
    primary: bool
    color: str = "#9fe1e7"
    events: dict[str, Event] = field(default_factory=dict)
    # live singles and overrides ordered by start timestamp, for windowed listing by bisect
    by_start: list[tuple[float, str]] = field(default_factory=list)
    masters: dict[str, Event] = field(default_factory=dict)  # live series masters
    log: list[tuple[int, str]] = field(default_factory=list)  # (seq, event id), seq ascending
    seq: int = 0
    epoch: int = 0  # bumped to invalidate every sync token / delta link of this calendar
    max_duration: float = 0.0  # longest live event in seconds: bounds the by_start scan
    # deterministic generator of seeded events: run on first access, and again after an untouched
    # seeded calendar was dropped to bound memory (see Directory.calendar)
    seed: Callable[[Calendar], None] | None = None
    seeded: bool = False

    @property
    def tz(self) -> tzinfo:
        return zone(self.time_zone)

    def materialize(self) -> Calendar:
        if self.seed is not None and not self.seeded:
            self.seed(self)
            self.seeded = True
        return self

    def drop_seeded(self) -> None:
        """Forget generated events of a never-changed seeded calendar; they regenerate identically."""
        assert self.seq == 0 and self.seed is not None
        self.events.clear()
        self.by_start.clear()
        self.masters.clear()
        self.max_duration = 0.0
        self.seeded = False

    def index(self, event: Event) -> None:
        """Add a live single/override/master to the query indexes."""
        if event.deleted or event.kind is EventKind.GONE:
            return
        if event.kind is EventKind.MASTER:
            self.masters[event.id] = event
            return
        start = timestamp(event.start, self.tz)
        self.max_duration = max(self.max_duration, timestamp(event.end, self.tz) - start)
        bisect.insort(self.by_start, (start, event.id))

    def unindex(self, event: Event) -> None:
        if event.kind is EventKind.MASTER:
            self.masters.pop(event.id, None)
            return
        key = (timestamp(event.start, self.tz), event.id)
        pos = bisect.bisect_left(self.by_start, key)
        if pos < len(self.by_start) and self.by_start[pos] == key:
            del self.by_start[pos]


@dataclass(slots=True, eq=False)
class Account:
    id: str
    platform: Platform
    email: str
    display_name: str
    client_id: str
    client_secret: str
    user_id: str  # Graph user GUID / Google numeric profile id
    time_zone: str
    primary_calendar_id: str = ""
    calendars: dict[str, Calendar] = field(default_factory=dict)
    refresh_tokens: set[str] = field(default_factory=set)
    refresh_token: str = ""  # the most recently issued one (Entra rotates it on every refresh)
    scopes: tuple[str, ...] = ()
    grant_error: str | None = None  # why refreshes fail (see oauth.py); None = healthy grant
    calendar_access: bool = True  # False: 403 insufficientPermissions / ErrorAccessDenied
    mailbox_enabled: bool = True  # False: Graph 404 MailboxNotEnabledForRESTAPI


@dataclass(slots=True, eq=False)
class AccessToken:
    account_id: str
    client_id: str
    expires_at: datetime


@dataclass(slots=True, eq=False)
class GoogleChannel:
    id: str
    resource_id: str
    resource_uri: str
    account_id: str
    client_id: str
    calendar_id: str
    address: str
    token: str | None
    expiration: datetime
    message_number: int = 1
    stopped: bool = False


@dataclass(slots=True, eq=False)
class GraphSubscription:
    id: str
    account_id: str
    client_id: str
    resource: str
    calendar_id: str
    change_types: frozenset[str]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expiration: datetime
    created: datetime
    tls_version: str = "v1_2"
