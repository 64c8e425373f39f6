"""Subscriptions and the delivery log, always scoped by project (another project's ids are simply not found)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.ids import new_id
from calsync.store.keyset import Keyset, KeysetPage, SeekKey, fetch_keyset_page
from calsync.store.models import DeliveryStatus, WebhookDelivery, WebhookDeliveryAttempt, WebhookSubscription

WEBHOOK_ID_PREFIX = "whk_"
# The anchor allows 2 per project; more is useful (one per environment) but each one multiplies every delivery.
MAX_WEBHOOKS_PER_PROJECT = 10
ATTEMPTS_SHOWN = 50


class DuplicateUrl(Exception):
    pass


class TooManyWebhooks(Exception):
    pass


async def _check_url_free(session: AsyncSession, project_id: int, url: str, except_id: int | None = None) -> None:
    stmt = select(WebhookSubscription.id).where(
        WebhookSubscription.project_id == project_id, WebhookSubscription.url == url
    )
    if except_id is not None:
        stmt = stmt.where(WebhookSubscription.id != except_id)
    if (await session.execute(stmt)).first() is not None:
        raise DuplicateUrl


async def create_subscription(
    session: AsyncSession, project_id: int, *, url: str, triggers: list[str], is_active: bool, now: datetime
) -> WebhookSubscription:
    count = (
        await session.execute(
            select(func.count(WebhookSubscription.id)).where(WebhookSubscription.project_id == project_id)
        )
    ).scalar_one()
    if count >= MAX_WEBHOOKS_PER_PROJECT:
        raise TooManyWebhooks
    await _check_url_free(session, project_id, url)
    subscription = WebhookSubscription(
        object_id=new_id(WEBHOOK_ID_PREFIX),
        project_id=project_id,
        url=url,
        triggers=triggers,
        is_active=is_active,
        created_at=now,
        updated_at=now,
        consecutive_failures=0,
    )
    session.add(subscription)
    await session.flush()
    return subscription


async def update_subscription(
    session: AsyncSession,
    subscription: WebhookSubscription,
    *,
    url: str | None,
    triggers: list[str] | None,
    is_active: bool | None,
    now: datetime,
) -> None:
    """A new URL or a re-activation starts a fresh health record: the old streak was about another endpoint."""
    fresh = False
    if url is not None and url != subscription.url:
        await _check_url_free(session, subscription.project_id, url, except_id=subscription.id)
        subscription.url = url
        fresh = True
    if triggers is not None:
        subscription.triggers = triggers
    if is_active is not None:
        fresh = fresh or (is_active and not subscription.is_active)
        subscription.is_active = is_active
    if fresh:
        subscription.consecutive_failures = 0
        subscription.failure_streak_started_at = None
        subscription.failing_since = None
    subscription.updated_at = now


async def get_subscription(
    session: AsyncSession, project_id: int, object_id: str, *, for_update: bool = False
) -> WebhookSubscription | None:
    stmt = select(WebhookSubscription).where(
        WebhookSubscription.project_id == project_id, WebhookSubscription.object_id == object_id
    )
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_subscriptions(
    session: AsyncSession, project_id: int, *, after: SeekKey | None, backwards: bool, limit: int
) -> KeysetPage[WebhookSubscription]:
    keyset = Keyset(
        WebhookSubscription.created_at,
        WebhookSubscription.id,
        descending=True,
        after=after,
        backwards=backwards,
        limit=limit,
    )
    stmt = select(WebhookSubscription).where(WebhookSubscription.project_id == project_id)
    return await fetch_keyset_page(session, stmt, keyset)


@dataclass(frozen=True)
class DeliveryFilters:
    status: str | None = None
    trigger: str | None = None
    calendar_object_id: str | None = None
    bot_object_id: str | None = None


async def list_deliveries(
    session: AsyncSession,
    subscription_id: int,
    filters: DeliveryFilters,
    *,
    after: SeekKey | None,
    backwards: bool,
    limit: int,
) -> KeysetPage[WebhookDelivery]:
    # Each filter combination with subscription_id is served by one (subscription, column, created_at, id) index.
    stmt = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
    if filters.status is not None:
        stmt = stmt.where(WebhookDelivery.status == filters.status)
    if filters.trigger is not None:
        stmt = stmt.where(WebhookDelivery.trigger == filters.trigger)
    if filters.calendar_object_id is not None:
        stmt = stmt.where(WebhookDelivery.calendar_object_id == filters.calendar_object_id)
    if filters.bot_object_id is not None:
        stmt = stmt.where(WebhookDelivery.bot_object_id == filters.bot_object_id)
    keyset = Keyset(
        WebhookDelivery.created_at, WebhookDelivery.id, descending=True, after=after, backwards=backwards, limit=limit
    )
    return await fetch_keyset_page(session, stmt, keyset)


async def get_delivery(
    session: AsyncSession, project_id: int, object_id: str, *, for_update: bool = False
) -> tuple[WebhookDelivery, str] | None:
    """The delivery and its webhook's object id."""
    stmt = (
        select(WebhookDelivery, WebhookSubscription.object_id)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(WebhookDelivery.project_id == project_id, WebhookDelivery.object_id == object_id)
    )
    if for_update:
        stmt = stmt.with_for_update(of=WebhookDelivery)
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row is not None else None


async def list_attempts(session: AsyncSession, delivery_id: int) -> list[WebhookDeliveryAttempt]:
    """The latest attempts, oldest first."""
    stmt = (
        select(WebhookDeliveryAttempt)
        .where(WebhookDeliveryAttempt.delivery_id == delivery_id)
        .order_by(WebhookDeliveryAttempt.attempted_at.desc(), WebhookDeliveryAttempt.id.desc())
        .limit(ATTEMPTS_SHOWN)
    )
    return list(reversed((await session.execute(stmt)).scalars().all()))


class DeliveryInProgress(Exception):
    pass


def requeue(delivery: WebhookDelivery, now: datetime) -> None:
    """Due now, with a fresh retry horizon. A row being sent right now is left alone (its lease decides)."""
    if delivery.status == DeliveryStatus.DELIVERING.value:
        raise DeliveryInProgress
    delivery.status = DeliveryStatus.PENDING.value
    delivery.next_attempt_at = now
    delivery.queued_at = now
    delivery.lease_owner = None
    delivery.lease_expires_at = None
