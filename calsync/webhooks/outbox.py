"""Queue webhooks in the transaction of the change they report (the sync engine's and calsync.bots' entry point).

Because the outbox row commits (or rolls back) with the change, a crash can never lose a webhook for a change
that happened, nor announce one that did not. Delivery happens later, by calsync.webhooks.delivery_loop.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.ids import new_id
from calsync.store.due_work import is_postgres
from calsync.store.models import Calendar, DeliveryStatus, WebhookDelivery, WebhookSubscription
from calsync.store.work_signal import WEBHOOK_DELIVERY_LOOP, notify_work_in_transaction, with_notify
from calsync.webhooks import metrics
from calsync.webhooks.payloads import BOT_TRIGGERS, TRIGGERS

DELIVERY_ID_PREFIX = "whd_"
_DELIVERIES = cast(Table, WebhookDelivery.__table__)


@dataclass(frozen=True)
class Outgoing:
    """One trigger occurrence of a project: `data` is the snapshot of `payloads.*_data(...)` (calendar triggers)
    or `calsync.bots.payloads` (bot triggers). The references are what the envelope is built around at delivery
    time and what the delivery log is filtered by."""

    trigger: str
    data: dict[str, Any]
    calendar_id: int | None = None
    calendar_object_id: str | None = None
    bot_object_id: str | None = None

    def __post_init__(self) -> None:
        if self.trigger not in TRIGGERS:
            raise ValueError(f"unknown trigger {self.trigger!r}")
        if (self.trigger in BOT_TRIGGERS) != (self.bot_object_id is not None):
            raise ValueError(f"{self.trigger} needs a bot exactly when it is a bot trigger")


async def enqueue_webhooks(session: AsyncSession, project_id: int, webhooks: Sequence[Outgoing], now: datetime) -> int:
    """Queue each webhook for every active subscription of the project that wants its trigger; returns how many
    rows were written (one per webhook and subscription).

    Runs in the caller's transaction: one read of the project's subscriptions and one bulk insert, whatever the
    number of webhooks. When this returns > 0, the caller should kick `context.work_signal` after its commit
    (PostgreSQL workers elsewhere get a NOTIFY on commit)."""
    if not webhooks:
        return 0
    subscriptions = (
        await session.execute(
            select(WebhookSubscription.id, WebhookSubscription.triggers).where(
                WebhookSubscription.project_id == project_id, WebhookSubscription.is_active.is_(True)
            )
        )
    ).all()
    # A project has a handful of subscriptions: filtering the JSON list here is portable and cheap.
    rows = [
        {
            "object_id": new_id(DELIVERY_ID_PREFIX),
            "project_id": project_id,
            "subscription_id": subscription_id,
            "idempotency_key": str(uuid.uuid4()),
            "trigger": webhook.trigger,
            "calendar_id": webhook.calendar_id,
            "calendar_object_id": webhook.calendar_object_id,
            "bot_object_id": webhook.bot_object_id,
            "data": webhook.data,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "queued_at": now,
        }
        for webhook in webhooks
        for subscription_id, triggers in subscriptions
        if webhook.trigger in (triggers or [])
    ]
    if rows and is_postgres(session):
        # The rows and their NOTIFY in one statement (a change's webhook is on the steady state's path).
        await session.execute(with_notify(insert(_DELIVERIES).values(rows).cte(), WEBHOOK_DELIVERY_LOOP))
    elif rows:
        await session.execute(insert(WebhookDelivery), rows)
        await notify_work_in_transaction(session, WEBHOOK_DELIVERY_LOOP)
    if rows:
        for trigger, count in Counter(row["trigger"] for row in rows).items():
            metrics.ENQUEUED.labels(trigger).inc(count)
    return len(rows)


async def enqueue_calendar_webhook(
    session: AsyncSession, *, calendar: Calendar, trigger: str, data: dict[str, Any], now: datetime
) -> int:
    """`enqueue_webhooks` of one calendar trigger (`payloads.events_update_data(...)` /
    `payloads.state_change_data(...)`)."""
    webhook = Outgoing(trigger, data, calendar_id=calendar.id, calendar_object_id=calendar.object_id)
    return await enqueue_webhooks(session, calendar.project_id, [webhook], now)
