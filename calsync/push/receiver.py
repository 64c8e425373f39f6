"""What a push notification does to the database: authenticate it in constant time against the channel's secret
(Google channel token, Graph clientState), then only move the calendar's due time forward: at once after a quiet
spell, else by the debounce, so a burst becomes at most one more sync (calsync/push/debounce.py).

A receiver must answer within the platform's limit (Graph: 3 seconds) whatever the database does. Transient faults
are retried within `RECEIVER_BUDGET_SECONDS`; past it `ReceiverUnavailable` tells the route to answer 503 (the
platform retries) and to keep the notification for `calsync.push.upkeep` to record once the database is back."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import structlog
from sqlalchemy import ColumnElement, Update, bindparam, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.push.debounce import DEBOUNCED, NOW, PUSH_DUE_AT, times
from calsync.store.models import Calendar, PushChannel
from calsync.store.transient import transient_kind
from calsync.store.work_signal import NOTIFY_CHANNEL, SYNC_LOOP, notify_work_in_transaction
from calsync.sync.channels import token_digest

if TYPE_CHECKING:
    from calsync.context import AppContext

T = TypeVar("T")
log = structlog.get_logger(__name__)

# Everything a receiver does with the database, retries included, finishes within this or gives up.
RECEIVER_BUDGET_SECONDS = 1.5
# Enough for a pool whose connections were all closed by the server: the first failure makes SQLAlchemy replace
# them, but concurrent requests may each meet one dead connection first.
RETRY_ATTEMPTS = 4
# PostgreSQL: how long a receiver waits for a calendar row that a sync holds (a sync's write transaction lasts
# until its commit, which can queue behind other writers under load).
LOCK_TIMEOUT = "250ms"
LOCK_TIMEOUT_SQLSTATE = "55P03"


class ReceiverUnavailable(Exception):
    """The database could not record the notification in time."""


class ReceiverBusy(ReceiverUnavailable):
    """The database answers, but not within the budget (calendar rows held by syncs, a loaded server): keep the
    notification and record it in a moment, without making the platform wait or retry."""


@dataclass(frozen=True)
class Notification:
    """One notification as received, not yet authenticated."""

    channel_id: str
    presented: str | None  # Google's channel token / Graph's clientState
    # Graph lifecycle events: `missed` asks for a full resync, the others for a renewed or new subscription.
    lifecycle: str | None = None


class StoredChannel(Protocol):
    id: int
    calendar_id: int
    token_hash: str


def authentic(channel: StoredChannel, presented: str | None) -> bool:
    # Digests of equal length compared with compare_digest: no timing signal about the secret.
    return hmac.compare_digest(channel.token_hash, token_digest(presented or ""))


async def _within_budget(context: AppContext, what: str, body: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run the write, but answer the platform within the budget: a write still running then goes on in the
    background (never cancelled mid-statement: that leaves its connection half-closed) and the caller keeps the
    notification too. Recording it twice only moves a due time to the same place."""
    write = asyncio.ensure_future(context.db.write_retrying(body, what=what, attempts=RETRY_ATTEMPTS, max_delay=0.2))
    _IN_FLIGHT.add(write)
    write.add_done_callback(_finished)
    try:
        return await asyncio.wait_for(asyncio.shield(write), RECEIVER_BUDGET_SECONDS)
    except TimeoutError as exc:
        # Slow is not down: a database that cannot be reached fails fast (refused, reset, terminated).
        raise ReceiverBusy("timeout") from exc
    except Exception as exc:
        kind = transient_kind(exc)
        if kind == LOCK_TIMEOUT_SQLSTATE:
            raise ReceiverBusy(kind) from exc
        if kind is not None:
            raise ReceiverUnavailable(kind) from exc
        raise


# Writes that outlived their request's budget, referenced until they finish.
_IN_FLIGHT: set[asyncio.Future[Any]] = set()


def _finished(write: asyncio.Future[Any]) -> None:
    _IN_FLIGHT.discard(write)
    if write.cancelled():
        return
    error = write.exception()  # retrieved here, so a late failure is never "never retrieved"
    if error is not None and transient_kind(error) is None:
        log.error("push_write_failed", error=repr(error))


async def record(context: AppContext, notifications: Sequence[Notification]) -> tuple[int, int]:
    """Mark the calendars of the authentic notifications due; returns (accepted, rejected).

    Raises ReceiverUnavailable when the database could not be reached within the budget."""
    if not notifications:
        return 0, 0
    accepted, rejected = await _within_budget(
        context, "push_notification", lambda s: _record(context, s, notifications)
    )
    if accepted:
        # Only the sync loop: the other loops' claims would compete with this sync for the database.
        context.work_signal.kick(SYNC_LOOP)
    return accepted, rejected


# The statements of a notification, built once (their SQL compiled once per process): the channels' columns, then
# an UPDATE of the channels heard from and one of the calendars per reason. On PostgreSQL the read also sets the
# transaction's lock timeout, and the calendars' UPDATE wakes the workers (NOTIFY, delivered on commit; one per
# transaction however many rows): three statements in all.
_CHANNEL_COLUMNS = (PushChannel.id, PushChannel.channel_id, PushChannel.calendar_id, PushChannel.token_hash)
_CHANNELS = select(*_CHANNEL_COLUMNS).where(PushChannel.channel_id.in_(bindparam("channel_ids", expanding=True)))
_CHANNELS_WITH_LOCK_TIMEOUT = _CHANNELS.add_columns(func.set_config("lock_timeout", LOCK_TIMEOUT, True))
_HEARD = (
    update(PushChannel)
    .where(PushChannel.id.in_(bindparam("channel_ids", expanding=True)))
    .values(last_notification_at=NOW)
    .execution_options(synchronize_session=False)
)


def _due(reason: str, due: ColumnElement[datetime], *, notify: bool) -> Update:
    """Bring the calendars' next sync forward to `due` (never push it back); deleted calendars are left alone."""
    earlier = or_(Calendar.sync_due_at.is_(None), Calendar.sync_due_at > due)
    values: dict[str, Any] = {
        "sync_due_at": case((earlier, due), else_=Calendar.sync_due_at),
        "sync_reason": case((earlier, reason), else_=Calendar.sync_reason),
    }
    if reason == "missed":
        values["next_full_sync_at"] = NOW  # notifications were lost: only a full resync can be sure
    statement = (
        update(Calendar)
        .where(Calendar.id.in_(bindparam("calendar_ids", expanding=True)), Calendar.deleted_at.is_(None))
        .values(values)
        .execution_options(synchronize_session=False)
    )
    return statement.returning(func.pg_notify(NOTIFY_CHANNEL, SYNC_LOOP)) if notify else statement


# By reason, in the order they apply to one calendar: a change at once after a quiet spell, else after the debounce
# (calsync.push.debounce); lost notifications a full resync after the debounce; a lifecycle event at once.
_DUE_AT = {"push": PUSH_DUE_AT, "missed": DEBOUNCED, "channel_lifecycle": NOW}
_MARK_DUE = {
    (reason, notify): _due(reason, due, notify=notify) for reason, due in _DUE_AT.items() for notify in (True, False)
}


async def _record(context: AppContext, session: AsyncSession, notifications: Sequence[Notification]) -> tuple[int, int]:
    postgres = not context.db.is_sqlite
    now = context.clock()
    read = _CHANNELS_WITH_LOCK_TIMEOUT if postgres else _CHANNELS
    ids = sorted({item.channel_id for item in notifications})
    channels = {row.channel_id: row for row in await session.execute(read, {"channel_ids": ids})}
    accepted = rejected = 0
    # Per reason, the calendars whose notifications ask for it: "push" (a change), "missed", or a lifecycle renewal.
    wanted: dict[str, set[int]] = {}
    heard: set[int] = set()
    renew: set[int] = set()
    for item in notifications:
        channel = channels.get(item.channel_id)
        if channel is None or not authentic(channel, item.presented):
            rejected += 1
            continue
        accepted += 1
        heard.add(channel.id)
        if item.lifecycle in ("reauthorizationRequired", "subscriptionRemoved"):
            # The next sync renews (reauthorizes) or recreates the subscription.
            renew.add(channel.id)
        reason = {None: "push", "missed": "missed"}.get(item.lifecycle, "channel_lifecycle")
        wanted.setdefault(reason, set()).add(channel.calendar_id)
    await _touch_channels(session, heard, renew, now)
    if wanted:
        await _mark_due(
            session, wanted, times(now, timedelta(seconds=context.settings.sync_debounce_seconds)), postgres
        )
        if not postgres:
            await notify_work_in_transaction(session, SYNC_LOOP)
    return accepted, rejected


async def _mark_due(
    session: AsyncSession, wanted: dict[str, set[int]], at: dict[str, datetime], postgres: bool
) -> None:
    """One UPDATE per reason wanted."""
    if postgres and len(wanted) > 1:
        # Several UPDATEs would lock rows in several orders: one read locks them all in id order first (NO KEY
        # UPDATE, so event inserts of these calendars, which take KEY SHARE, are never blocked by a receiver).
        every = sorted(set().union(*wanted.values()))
        lock = select(Calendar.id).where(Calendar.id.in_(every)).order_by(Calendar.id)
        await session.execute(lock.with_for_update(key_share=True))
    for reason in _DUE_AT:
        if reason in wanted:
            parameters = {**at, "calendar_ids": sorted(wanted[reason])}
            await session.execute(_MARK_DUE[(reason, postgres)], parameters)


async def _touch_channels(session: AsyncSession, heard: set[int], renew: set[int], now: datetime) -> None:
    """Note when each channel was last heard from, and bring forward the renewal of those that asked for it.

    Plain UPDATEs by id: a sync may replace (delete) a channel between our read and this write, and its
    notification then simply touches nothing (an ORM flush would fail the whole batch on the missing row)."""
    if heard:
        await session.execute(_HEARD, {"channel_ids": sorted(heard), "now": now})
    if renew:
        soon = now + timedelta(minutes=1)
        await session.execute(
            update(PushChannel)
            .where(PushChannel.id.in_(sorted(renew)), PushChannel.expires_at > soon)
            .values(expires_at=soon)
            .execution_options(synchronize_session=False)
        )
