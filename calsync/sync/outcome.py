"""What a sync's outcome does to its calendar, decided by pure functions: the engine reads the calendar under its
fence, asks here for a plan, and applies it (`OutcomePlan.apply_to`) in the same transaction.

The engine releases the lease with every plan. Due times keep an earlier request made while the sync ran (a push notification or a
PATCH moves `sync_due_at` before the claim's value), so that change is never lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from calsync.providers.base import ProviderError
from calsync.store.models import Calendar, CalendarState

CONNECTED = CalendarState.CONNECTED.value
DISCONNECTED = CalendarState.DISCONNECTED.value


@dataclass(frozen=True)
class CalendarFacts:
    """The calendar's columns an outcome depends on, as read under the fence."""

    state: str
    push_state: str
    sync_due_at: datetime | None
    sync_reason: str | None
    consecutive_failures: int

    @classmethod
    def of(cls, calendar: Calendar) -> CalendarFacts:
        return cls(
            state=calendar.state,
            push_state=calendar.push_state,
            sync_due_at=calendar.sync_due_at,
            sync_reason=calendar.sync_reason,
            consecutive_failures=calendar.consecutive_failures,
        )


@dataclass(frozen=True)
class OutcomePlan:
    """Column values to set, and what else the transaction does."""

    values: Mapping[str, Any]
    # The calendar's push channels are forgotten locally (they cannot be stopped without a working grant).
    forget_channels: bool = False
    # The state it leaves, when the outcome connects or disconnects it (the features hear of it).
    became: str | None = None
    previous_state: str | None = None
    # Whether `became` differs from `previous_state` (a calendar found disconnected again stays as it was).
    state_changed: bool = False
    at: datetime | None = None  # when it connected or disconnected

    def apply_to(self, calendar: Calendar) -> None:
        for name, value in self.values.items():
            setattr(calendar, name, value)


def failure_record(message: str, code: str, kind: str, now: datetime) -> dict[str, str]:
    """The calendar's `last_sync_error` / `connection_failure_data` (Attendee's shape)."""
    return {"error": message, "code": code, "kind": kind, "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def next_due(current: datetime | None, claimed_due_at: datetime, proposed: datetime) -> datetime:
    """Keep an earlier due time set while the sync ran (a push notification or a PATCH arrived mid-sync)."""
    if current is not None and current < claimed_due_at:
        return min(current, proposed)
    return proposed


def succeeded(
    facts: CalendarFacts, now: datetime, claimed_due_at: datetime, next_check_at: datetime, next_check_reason: str
) -> OutcomePlan:
    """A sync that finished: due again at its next check by need (calsync.sync.schedule), or sooner if asked
    meanwhile; connected."""
    due = next_due(facts.sync_due_at, claimed_due_at, next_check_at)
    values: dict[str, Any] = {
        "last_successful_sync_at": now,
        "last_attempted_sync_at": now,
        "last_sync_error": None,
        "consecutive_failures": 0,
        "sync_due_at": due,
        "sync_reason": next_check_reason if due == next_check_at else facts.sync_reason,
    }
    if facts.state == CONNECTED:
        return OutcomePlan(values)
    values.update(state=CONNECTED, connection_failure_data=None, updated_at=now)
    return OutcomePlan(values, became=CONNECTED, previous_state=facts.state, state_changed=True, at=now)


def failed(
    facts: CalendarFacts,
    error: ProviderError,
    now: datetime,
    claimed_due_at: datetime,
    *,
    throttle_wait: timedelta | None,
    backoff: Callable[[int], timedelta],
) -> OutcomePlan:
    """A sync the platform failed. A refused grant disconnects the calendar, which then waits for new credentials
    (unless a PATCH already arrived mid-sync); any other failure is retried after `throttle_wait` (the platform's
    Retry-After) or `backoff(failures so far)`."""
    failure = failure_record(error.message, error.code or error.kind.value, error.kind.value, now)
    if error.disconnects:
        requested = facts.sync_due_at is not None and facts.sync_due_at < claimed_due_at
        values: dict[str, Any] = {
            "last_attempted_sync_at": now,
            "push_state": "none",
            "push_error": None,
            "state": DISCONNECTED,
            "connection_failure_data": {**failure, "code": error.kind.value, "platform_code": error.code},
            "encrypted_access_token": None,
            "access_token_expires_at": None,
            "sync_due_at": facts.sync_due_at if requested else None,
        }
        changed = facts.state != DISCONNECTED
        if changed:
            values["updated_at"] = now
        return OutcomePlan(
            values, forget_channels=True, became=DISCONNECTED, previous_state=facts.state, state_changed=changed, at=now
        )
    failures = facts.consecutive_failures + 1
    wait = throttle_wait or backoff(failures)
    return OutcomePlan(
        {
            "last_attempted_sync_at": now,
            "consecutive_failures": failures,
            "last_sync_error": failure,
            "sync_due_at": next_due(facts.sync_due_at, claimed_due_at, now + wait),
            "sync_reason": "retry",
        }
    )


def throttled(facts: CalendarFacts, until: datetime, claimed_due_at: datetime) -> OutcomePlan:
    """Not synced: its OAuth client is throttled until `until`; never due before then."""
    due = max(until, next_due(facts.sync_due_at, claimed_due_at, until))
    return OutcomePlan({"sync_due_at": due, "sync_reason": "throttled"})


def crashed(
    facts: CalendarFacts, error: BaseException, now: datetime, backoff: Callable[[int], timedelta]
) -> OutcomePlan:
    """An unexpected failure (a bug): visible on the calendar, retried with backoff."""
    failures = facts.consecutive_failures + 1
    message = f"internal error ({type(error).__name__}); see the worker log"
    return OutcomePlan(
        {
            "consecutive_failures": failures,
            "last_attempted_sync_at": now,
            "last_sync_error": failure_record(message, "internal_error", "internal_error", now),
            "sync_due_at": now + backoff(failures),
            "sync_reason": "retry",
        }
    )


def database_failed(facts: CalendarFacts, retry_at: datetime, claimed_due_at: datetime) -> OutcomePlan:
    """The database failed under the sync: not the calendar's fault, nothing counted or shown; due at `retry_at`."""
    due = next_due(facts.sync_due_at, claimed_due_at, retry_at)
    return OutcomePlan({"sync_due_at": due, "sync_reason": "database_retry" if due == retry_at else facts.sync_reason})


def handed_back(now: datetime) -> OutcomePlan:
    """The worker stops: the calendar is due at once, for another worker."""
    return OutcomePlan({"sync_due_at": now})
