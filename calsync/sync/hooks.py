"""What the sync engine and a calendar's lifecycle publish to the features built on them (bots, meetings, webhooks),
through the process's `calsync.hooks.Hooks`.

Each event is published with the open session, inside the transaction where it happened, so what a subscriber
writes commits or rolls back with it. A subscriber runs before the change clock is taken and must
respect the lock order of docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from calsync.providers.base import NormalizedEvent
from calsync.store.models import Calendar
from calsync.sync.apply import PagePlan


@dataclass(frozen=True)
class EventsListed:
    """A page of a calendar's events was listed and is about to be compared with what is stored."""

    calendar: Calendar
    events: Sequence[NormalizedEvent]
    now: datetime


@dataclass(frozen=True)
class PageWritten:
    """A page's writes are planned (its changes known) and written in this transaction; subscribers run before the
    rows are stamped and written, because the change clock is taken last."""

    calendar: Calendar
    plan: PagePlan
    now: datetime


@dataclass(frozen=True)
class CalendarConnected:
    """A calendar that was not connected synced successfully (its state is already `connected`)."""

    calendar: Calendar
    previous_state: str
    now: datetime


@dataclass(frozen=True)
class CalendarDisconnected:
    """A sync found the calendar's grant refused (its state is already `disconnected`; `previous_state` may be
    `disconnected` too when it was already)."""

    calendar: Calendar
    previous_state: str
    now: datetime


@dataclass(frozen=True)
class CalendarDeleting:
    """A calendar is about to be deleted: subscribers add to `kept_bots` the ids of its bots that stay live
    (another calendar's copy of their meeting takes them over)."""

    calendar: Calendar
    now: datetime
    kept_bots: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class CalendarDeleted:
    """A calendar is deleted in this transaction; its events and row still exist while subscribers run."""

    calendar: Calendar
    now: datetime
    kept_bots: frozenset[int] = frozenset()
