"""The database side of delivery: claim due rows under a lease, record each attempt, release on shutdown (the
deliveries' queue: calsync.store.due_work.WEBHOOK_DELIVERIES).

Each function runs inside one short transaction of the caller's; none of them touches the network. The
invariant they keep: `next_attempt_at` is the row's due time while it is pending or delivering (for a
delivering row it equals the lease expiry, so a dead worker's rows come due again by themselves) and NULL once
the row succeeded or failed.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, insert, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.security.secret_box import SecretBox
from calsync.store.due_work import WEBHOOK_DELIVERIES
from calsync.store.models import (
    Bot,
    Calendar,
    DeliveryStatus,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookSubscription,
)
from calsync.webhooks import health
from calsync.webhooks.backoff import RetryPolicy, next_attempt_at
from calsync.webhooks.payloads import BOT_DISPATCH, BotRef, CalendarRef, build_envelope
from calsync.webhooks.secret_store import active_secrets, decrypt_all
from calsync.webhooks.sender import AttemptResult
from calsync.webhooks.signing import canonical_json

# The launches' partial index (ix_webhook_deliveries_due_launches) is used only when the query states its
# predicate as written, with the literal: a bound parameter would not prove it to PostgreSQL's planner.
LAUNCHES: ColumnElement[bool] = WebhookDelivery.trigger == literal_column(f"'{BOT_DISPATCH}'")

INACTIVE_ERROR = "webhook is inactive"
NO_SECRET_ERROR = "the project has no active signing secret"

M = TypeVar("M", WebhookSubscription, Calendar)


@dataclass(frozen=True)
class Job:
    """Everything one attempt needs, read in the claim transaction so the send needs no database."""

    delivery_id: int
    subscription_id: int
    url: str
    idempotency_key: str
    body: bytes  # canonical JSON of the envelope, built now (delivery time)
    secrets: tuple[bytes, ...]  # newest first
    struggling: bool  # the webhook was in a failure streak when claimed


@dataclass(frozen=True)
class Claim:
    jobs: list[Job]
    finished: int  # rows settled without sending (inactive subscription)
    deferred: int  # due rows left for later because their subscription had no room


@dataclass(frozen=True)
class Concurrency:
    """How many deliveries of one webhook may be in flight at once, and how many are (in this worker)."""

    healthy: int  # a webhook whose last attempt succeeded
    struggling: int  # a webhook in a failure streak: probing, not flooding
    in_flight: dict[int, int]  # subscription id -> deliveries in flight
    # Webhooks whose last attempt by this worker failed, whether or not that is recorded yet (attempts are recorded
    # in the background, after their slot is freed).
    failing: frozenset[int] = frozenset()

    def is_struggling(self, subscription: WebhookSubscription) -> bool:
        return subscription.consecutive_failures > 0 or subscription.id in self.failing

    def limit(self, subscription: WebhookSubscription) -> int:
        return self.struggling if self.is_struggling(subscription) else self.healthy


async def claim_due(
    session: AsyncSession,
    box: SecretBox,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    concurrency: Concurrency,
    full: list[int],
) -> Claim:
    """Lease up to `limit` due deliveries, at most `concurrency.limit(...)` in flight per webhook.

    `full` names the webhooks already at their limit: their rows are skipped in SQL, so a dead endpoint's backlog
    never fills a batch meant for others.

    Bot launches (`bot.dispatch`) go first, in due order, then everything else in due order: a launch is late the
    moment it waits, while the `bot.state_change` written beside it and calendar updates only inform. 10,000 bots
    due in one minute are 20,000 webhooks to one runner; taken in plain due order, half the slots went to the
    state changes and launches queued behind them for tens of seconds (bench/bot_dispatch.py)."""
    room = [WebhookDelivery.subscription_id.not_in(full)] if full else []
    launches = await WEBHOOK_DELIVERIES.take(session, now, LAUNCHES, *room, limit=limit)
    others = await WEBHOOK_DELIVERIES.take(session, now, ~LAUNCHES, *room, limit=limit - len(launches))
    candidates = launches + others
    subscriptions = await _by_id(session, WebhookSubscription, {row.subscription_id for row in candidates})

    taken: list[WebhookDelivery] = []
    counts = dict(concurrency.in_flight)
    for row in candidates:
        subscription = subscriptions.get(row.subscription_id)
        if subscription is not None and subscription.is_active:
            if counts.get(row.subscription_id, 0) >= concurrency.limit(subscription):
                continue
            counts[row.subscription_id] = counts.get(row.subscription_id, 0) + 1
        taken.append(row)
    deferred = len(candidates) - len(taken)
    if not taken:
        return Claim([], 0, deferred)

    calendars = await _by_id(session, Calendar, {row.calendar_id for row in taken if row.calendar_id is not None})
    bot_metadata = await _bot_metadata(session, {row.bot_object_id for row in taken if row.bot_object_id is not None})
    secrets: dict[int, tuple[bytes, ...]] = {}
    for project_id in {row.project_id for row in taken}:
        secrets[project_id] = tuple(decrypt_all(box, await active_secrets(session, project_id, now)))

    jobs: list[Job] = []
    finished = 0
    for row in taken:
        subscription = subscriptions.get(row.subscription_id)
        if subscription is None or not subscription.is_active:
            # As the anchor: a delivery for a disabled endpoint is settled as failed, never sent (retryable by hand).
            _settle(row, DeliveryStatus.FAILED, now, error=INACTIVE_ERROR)
            finished += 1
            continue
        row.status = DeliveryStatus.DELIVERING.value
        WEBHOOK_DELIVERIES.hold(row, owner=owner, until=now + lease)
        calendar = calendars.get(row.calendar_id) if row.calendar_id is not None else None
        ref = (
            CalendarRef(calendar.object_id, calendar.deduplication_key, calendar.metadata_)
            if calendar is not None
            else None
        )
        bot = BotRef(row.bot_object_id, bot_metadata.get(row.bot_object_id)) if row.bot_object_id else None
        envelope = build_envelope(
            idempotency_key=row.idempotency_key, trigger=row.trigger, data=row.data, calendar=ref, bot=bot
        )
        jobs.append(
            Job(
                delivery_id=row.id,
                subscription_id=row.subscription_id,
                url=subscription.url,
                idempotency_key=row.idempotency_key,
                body=canonical_json(envelope),
                secrets=secrets[row.project_id],
                struggling=concurrency.is_struggling(subscription),
            )
        )
    return Claim(jobs, finished, deferred)


async def _by_id(session: AsyncSession, model: type[M], ids: Iterable[int]) -> dict[int, M]:
    wanted = list(ids)
    if not wanted:
        return {}
    rows = (await session.execute(select(model).where(model.id.in_(wanted)))).scalars().all()
    return {row.id: row for row in rows}


async def _bot_metadata(session: AsyncSession, object_ids: set[str]) -> dict[str, dict[str, Any] | None]:
    """Each bot's metadata as it is now (the envelope's `bot_metadata`, like `calendar_metadata`)."""
    if not object_ids:
        return {}
    rows = await session.execute(select(Bot.object_id, Bot.metadata_).where(Bot.object_id.in_(object_ids)))
    return {object_id: metadata for object_id, metadata in rows}


def _settle(row: WebhookDelivery, status: DeliveryStatus, now: datetime, *, error: str | None = None) -> None:
    row.status = status.value
    WEBHOOK_DELIVERIES.settle(row)
    if error is not None:
        row.last_error = error
    if status is DeliveryStatus.SUCCEEDED:
        row.delivered_at = now


@dataclass(frozen=True)
class Attempted:
    """One finished attempt, to be recorded."""

    job: Job
    result: AttemptResult
    attempted_at: datetime


async def record_attempts(
    session: AsyncSession,
    attempts: Sequence[Attempted],
    *,
    owner: str,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
) -> list[str | None]:
    """Log each attempt and move its delivery on: succeeded, pending (with its next due time) or failed. One
    transaction for a batch, in a handful of statements whatever its size: the deliveries and their subscriptions
    are read (and locked) in two statements, the attempt log written in one, the rows' updates flushed together
    (a slot of the webhook is held until its attempt is recorded, so this is on every delivery's critical path).

    Returns each attempt's new status, or None when our lease was lost (another worker re-claimed the row after it
    expired; it owns the row now, so only the attempt log is written).
    """
    if not attempts:
        return []
    statement = (
        select(WebhookDelivery)
        .where(WebhookDelivery.id.in_({a.job.delivery_id for a in attempts}))
        .order_by(WebhookDelivery.subscription_id, WebhookDelivery.id)
    )
    subscription_statement = (
        select(WebhookSubscription)
        .where(WebhookSubscription.id.in_({a.job.subscription_id for a in attempts}))
        .order_by(WebhookSubscription.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        # NO KEY UPDATE: only health and status columns change, so new outbox rows (whose foreign keys take
        # FOR KEY SHARE on the subscription) are never blocked by a delivery being recorded. One order for every
        # worker: deliveries by (subscription, id), then subscriptions by id.
        statement = statement.with_for_update(key_share=True)
        subscription_statement = subscription_statement.with_for_update(key_share=True)
    rows = {row.id: row for row in (await session.execute(statement)).scalars()}
    subscriptions = {row.id: row for row in (await session.execute(subscription_statement)).scalars()}
    log: list[dict[str, Any]] = []
    statuses = [
        _record(rows.get(a.job.delivery_id), subscriptions.get(a.job.subscription_id), a, log, owner, now, policy, rng)
        for a in attempts
    ]
    if log:
        await session.execute(insert(WebhookDeliveryAttempt), log)
    return statuses


def _record(
    row: WebhookDelivery | None,
    subscription: WebhookSubscription | None,
    attempt: Attempted,
    log: list[dict[str, Any]],
    owner: str,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
) -> str | None:
    if row is None:
        return None  # deleted with its webhook meanwhile: nothing to log against
    if row.lease_owner != owner and row.last_attempt_at == attempt.attempted_at:
        # This attempt was recorded already: the transaction is being re-run after a commit whose outcome the
        # dropped connection hid (calsync.store.transient). Log it once.
        return row.status
    result = attempt.result
    log.append(
        {
            "delivery_id": row.id,
            "attempted_at": attempt.attempted_at,
            "status_code": result.status_code,
            "response_excerpt": result.response_excerpt,
            "error": result.error,
            "duration_ms": round(result.duration_ms, 3),
        }
    )
    if row.lease_owner != owner or row.status != DeliveryStatus.DELIVERING.value:
        return None
    row.attempts += 1
    row.last_attempt_at = attempt.attempted_at
    row.last_status_code = result.status_code
    row.last_error = result.error
    if result.succeeded:
        _settle(row, DeliveryStatus.SUCCEEDED, now)
        if subscription is not None:
            health.record_success(subscription, now)
        return row.status
    if subscription is not None:
        health.record_failure(subscription, result.error or "failed", now)
    retry_at = next_attempt_at(
        created_at=row.queued_at, failed_at=now, failed_attempts=row.attempts, rng=rng, policy=policy
    )
    if retry_at is None:
        _settle(row, DeliveryStatus.FAILED, now)
        return row.status
    row.status = DeliveryStatus.PENDING.value
    WEBHOOK_DELIVERIES.settle(row, due=retry_at)
    return row.status


async def release(session: AsyncSession, delivery_ids: Iterable[int], *, owner: str, now: datetime) -> None:
    """Hand unfinished claims back (shutdown): due again now, for any worker."""
    await WEBHOOK_DELIVERIES.release(
        session, delivery_ids, owner=owner, now=now, values={WebhookDelivery.status: DeliveryStatus.PENDING.value}
    )
