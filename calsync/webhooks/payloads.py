"""The webhook envelope, exactly as Attendee sends it, plus what changed (inside `data`).

Two phases, as in Attendee: `data` is a snapshot taken when the trigger fires (stored in the outbox row), and
the envelope around it is built at delivery time from the calendar as it is then (its metadata may have changed;
if the calendar was deleted, the `calendar_*` keys are omitted, as Attendee does). Bot triggers (`bot.*`, built by
calsync.bots.payloads) have the same two phases around the bot: `bot_id` and `bot_metadata` instead of `calendar_*`.

Pure functions over plain values; no database, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

EVENTS_UPDATE = "calendar.events_update"
STATE_CHANGE = "calendar.state_change"
BOT_DISPATCH = "bot.dispatch"
BOT_UPDATED = "bot.updated"
BOT_STATE_CHANGE = "bot.state_change"
CONNECT_COMPLETED = "connect_session.completed"
CONNECT_FAILED = "connect_session.failed"
CALENDAR_TRIGGERS = (EVENTS_UPDATE, STATE_CHANGE)
BOT_TRIGGERS = (BOT_DISPATCH, BOT_UPDATED, BOT_STATE_CHANGE)
# Hosted connect (calsync.connect.webhook): `calendar_*` names the calendar of a completed session.
CONNECT_TRIGGERS = (CONNECT_COMPLETED, CONNECT_FAILED)
TRIGGERS = CALENDAR_TRIGGERS + BOT_TRIGGERS + CONNECT_TRIGGERS

# Total ids listed across created, updated and deleted; counts always stay exact.
DEFAULT_MAX_IDS = 1000

# Field names the sync engine should use in `changes.updated.fields` (others pass through unchanged).
KNOWN_FIELDS = ("start_time", "end_time", "meeting_url", "attendees", "is_deleted", "name", "ical_uid", "raw")


@dataclass(frozen=True)
class CalendarRef:
    """The calendar as read at delivery time."""

    id: str
    deduplication_key: str | None = None
    metadata: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class BotRef:
    """The bot as read at delivery time."""

    id: str
    metadata: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class CalendarSnapshot:
    """The calendar's state when the trigger fired."""

    state: str  # "connected" | "disconnected"
    connection_failure_data: Mapping[str, Any] | None = None
    last_successful_sync_at: datetime | None = None
    last_attempted_sync_at: datetime | None = None


@dataclass(frozen=True)
class EventChanges:
    """What one sync did: ids of created and deleted events, and for each updated event the fields that changed."""

    created: Sequence[str] = ()
    updated: Mapping[str, Sequence[str]] = field(default_factory=dict)
    deleted: Sequence[str] = ()

    @property
    def total(self) -> int:
        return len(self.created) + len(self.updated) + len(self.deleted)


def format_timestamp(value: datetime | None) -> str | None:
    """ISO-8601 UTC with microseconds and `Z`. Naive values are taken as UTC (the store keeps UTC)."""
    if value is None:
        return None
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _snapshot_data(snapshot: CalendarSnapshot) -> dict[str, Any]:
    # Exactly Attendee's four keys (webhook_payloads.py); our additions go next to them.
    return {
        "state": snapshot.state,
        "connection_failure_data": dict(snapshot.connection_failure_data)
        if snapshot.connection_failure_data is not None
        else None,
        "last_successful_sync_at": format_timestamp(snapshot.last_successful_sync_at),
        "last_attempted_sync_at": format_timestamp(snapshot.last_attempted_sync_at),
    }


def _fair_shares(sizes: Sequence[int], budget: int) -> list[int]:
    """Split `budget` across lists so a huge one cannot crowd out the others (max-min fair)."""
    shares = [0] * len(sizes)
    remaining = budget
    order = sorted(range(len(sizes)), key=lambda i: sizes[i])
    for position, index in enumerate(order):
        share = min(sizes[index], remaining // (len(order) - position))
        shares[index] = share
        remaining -= share
    return shares


def changes_object(changes: EventChanges, max_ids: int = DEFAULT_MAX_IDS) -> dict[str, Any]:
    """`{"created": {count, ids}, "updated": {count, ids, fields}, "deleted": {count, ids}, "truncated"}`."""
    updated_ids = list(changes.updated)
    created_n, updated_n, deleted_n = _fair_shares(
        [len(changes.created), len(updated_ids), len(changes.deleted)], max(max_ids, 0)
    )
    listed_updated = updated_ids[:updated_n]
    return {
        "created": {"count": len(changes.created), "ids": list(changes.created[:created_n])},
        "updated": {
            "count": len(updated_ids),
            "ids": listed_updated,
            # Sorted and de-duplicated so the same change always produces the same payload (and signature).
            "fields": {event_id: sorted(set(changes.updated[event_id])) for event_id in listed_updated},
        },
        "deleted": {"count": len(changes.deleted), "ids": list(changes.deleted[:deleted_n])},
        "truncated": created_n + updated_n + deleted_n < changes.total,
    }


def events_update_data(
    snapshot: CalendarSnapshot, changes: EventChanges, *, max_ids: int = DEFAULT_MAX_IDS
) -> dict[str, Any]:
    """`data` for `calendar.events_update`, taken when the sync commits."""
    return {**_snapshot_data(snapshot), "changes": changes_object(changes, max_ids)}


def state_change_data(snapshot: CalendarSnapshot, previous_state: str | None) -> dict[str, Any]:
    """`data` for `calendar.state_change`, taken at the transition."""
    return {**_snapshot_data(snapshot), "previous_state": previous_state}


def build_envelope(
    *,
    idempotency_key: str,
    trigger: str,
    data: Mapping[str, Any],
    calendar: CalendarRef | None = None,
    bot: BotRef | None = None,
) -> dict[str, Any]:
    """The body we sign and send. A calendar trigger's `calendar` is None when the calendar was deleted before
    delivery; a bot trigger always names its bot (`{idempotency_key, trigger, bot_id, bot_metadata, data}`)."""
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}")
    envelope: dict[str, Any] = {"idempotency_key": idempotency_key}
    if trigger in BOT_TRIGGERS:
        if bot is None:
            raise ValueError(f"{trigger} names no bot")
        envelope["trigger"] = trigger
        envelope["bot_id"] = bot.id
        envelope["bot_metadata"] = dict(bot.metadata) if bot.metadata is not None else None
        envelope["data"] = dict(data)
        return envelope
    if calendar is not None:
        envelope["calendar_id"] = calendar.id
        envelope["calendar_deduplication_key"] = calendar.deduplication_key
        envelope["calendar_metadata"] = dict(calendar.metadata) if calendar.metadata is not None else None
    envelope["trigger"] = trigger
    envelope["data"] = dict(data)
    return envelope
