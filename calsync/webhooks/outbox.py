"""The sync engine's entry point: queue a webhook in the transaction of the change it reports.

Because the outbox row commits (or rolls back) with the change, a crash can never lose a webhook for a change
that happened, nor announce one that did not. Delivery happens later, by calsync.webhooks.delivery_loop.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.ids import new_id
from calsync.store.models import Calendar, DeliveryStatus, WebhookDelivery, WebhookSubscription
from calsync.store.work_signal import notify_work_in_transaction
from calsync.webhooks import metrics
from calsync.webhooks.payloads import TRIGGERS

DELIVERY_ID_PREFIX = "whd_"


async def enqueue_calendar_webhook(
    session: AsyncSession, *, calendar: Calendar, trigger: str, data: dict[str, Any], now: datetime
) -> int:
    """Queue `trigger` for every active subscription of the calendar's project that wants it; returns how many.

    Runs in the caller's transaction and adds nothing to commit. `data` is the snapshot from
    `payloads.events_update_data(...)` / `payloads.state_change_data(...)`. When this returns > 0, the caller
    should kick `context.work_signal` after its commit (PostgreSQL workers elsewhere get a NOTIFY on commit).
    """
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}")
    subscriptions = (
        (
            await session.execute(
                select(WebhookSubscription).where(
                    WebhookSubscription.project_id == calendar.project_id, WebhookSubscription.is_active.is_(True)
                )
            )
        )
        .scalars()
        .all()
    )
    # A project has a handful of subscriptions: filtering the JSON list here is portable and cheap.
    wanted = [s for s in subscriptions if trigger in (s.triggers or [])]
    for subscription in wanted:
        session.add(
            WebhookDelivery(
                object_id=new_id(DELIVERY_ID_PREFIX),
                project_id=calendar.project_id,
                subscription_id=subscription.id,
                idempotency_key=str(uuid.uuid4()),
                trigger=trigger,
                calendar_id=calendar.id,
                calendar_object_id=calendar.object_id,
                data=data,
                status=DeliveryStatus.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                queued_at=now,
            )
        )
    if wanted:
        metrics.ENQUEUED.labels(trigger).inc(len(wanted))
        await session.flush()
        await notify_work_in_transaction(session)
    return len(wanted)
