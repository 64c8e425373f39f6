"""What an operator's dashboards and alerts need to know about the whole service, read at scrape time: how many
calendars in each state, how many channels, how much work is overdue, how old the oldest due webhook is. Each is
one aggregate over an indexed column or a small table."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.store.models import Calendar, PushChannel, WebhookDelivery

# A calendar due for longer than this is backlog: the workers are not keeping up (or none runs).
OVERDUE_AFTER = timedelta(minutes=1)


@dataclass
class ServiceGauges:
    calendars: dict[tuple[str, str], int] = field(default_factory=dict)  # (platform, state) -> count
    push_states: dict[str, int] = field(default_factory=dict)
    live_channels: dict[str, int] = field(default_factory=dict)  # platform -> count
    overdue_calendars: int = 0
    webhooks_queued: int = 0  # pending or being delivered
    oldest_due_webhook_seconds: float = 0.0


async def service_gauges(session: AsyncSession, now: datetime) -> ServiceGauges:
    gauges = ServiceGauges()
    live = Calendar.deleted_at.is_(None)
    for platform, state, count in await session.execute(
        select(Calendar.platform, Calendar.state, func.count()).where(live).group_by(Calendar.platform, Calendar.state)
    ):
        gauges.calendars[(platform, state)] = int(count)
    for push_state, count in await session.execute(
        select(Calendar.push_state, func.count()).where(live).group_by(Calendar.push_state)
    ):
        gauges.push_states[push_state] = int(count)
    for platform, count in await session.execute(
        select(PushChannel.platform, func.count()).where(PushChannel.expires_at > now).group_by(PushChannel.platform)
    ):
        gauges.live_channels[platform] = int(count)
    gauges.overdue_calendars = int(
        (await session.execute(select(func.count()).where(Calendar.sync_due_at < now - OVERDUE_AFTER))).scalar_one()
    )
    queued, oldest = (
        await session.execute(
            select(func.count(), func.min(WebhookDelivery.next_attempt_at)).where(
                WebhookDelivery.next_attempt_at.is_not(None)
            )
        )
    ).one()
    gauges.webhooks_queued = int(queued)
    if oldest is not None and oldest < now:
        gauges.oldest_due_webhook_seconds = (now - oldest).total_seconds()
    return gauges
