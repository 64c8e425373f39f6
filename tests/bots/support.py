"""Helpers for bot tests: an event with a meeting link on a connected calendar, bots, and the bot webhooks queued."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from calsync.context import AppContext
from calsync.store.models import Bot, WebhookDelivery
from calsync_emulator.client import EmulatorControl
from tests.support.service import Tenant
from tests.sync.conftest import connect_calendar, list_events, sync_once

MEET = "https://meet.google.com/abc-defg-hij"
OTHER_MEET = "https://meet.google.com/xyz-wvut-srq"
BOT_TRIGGERS = ["bot.dispatch", "bot.updated", "bot.state_change"]


def tomorrow() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)


def at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class Meeting:
    """An event with a meeting link on the emulator, mirrored on a connected calsync calendar."""

    account: dict[str, Any]
    calendar_id: str  # cal_…
    platform_calendar_id: str
    platform_event_id: str
    event_id: str  # evt_…

    async def sync(self, context: AppContext) -> None:
        await sync_once(context, self.calendar_id)


async def meeting(
    control: EmulatorControl,
    tenant: Tenant,
    context: AppContext,
    start: datetime,
    *,
    minutes: int = 30,
    meeting_url: str | None = MEET,
    platform: str = "google",
    summary: str = "Design review",
) -> Meeting:
    account = await control.create_account(platform)
    calendar = account["primary_calendar_id"]
    created = await control.create_event(
        calendar,
        start,
        start + timedelta(minutes=minutes),
        summary=summary,
        meeting_url=meeting_url,
        attendees=[{"email": "ada@example.com", "name": "Ada"}],
    )
    connected = await connect_calendar(tenant, account)
    await sync_once(context, connected["id"])
    [event] = await list_events(tenant, connected["id"])
    return Meeting(account, connected["id"], calendar, created["id"], event["id"])


async def another_event(
    control: EmulatorControl, context: AppContext, tenant: Tenant, where: Meeting, start: datetime, **fields: Any
) -> str:
    """A second event on the same calendar, synced; its evt_ id."""
    created = await control.create_event(where.platform_calendar_id, start, start + timedelta(minutes=30), **fields)
    await where.sync(context)
    events = await list_events(tenant, where.calendar_id)
    [event] = [e for e in events if e["platform_uuid"] == created["id"]]
    return str(event["id"])


async def subscribe(
    tenant: Tenant, url: str = "http://127.0.0.1:9/hook", triggers: list[str] | None = None
) -> dict[str, Any]:
    response = await tenant.client.post("/api/v1/webhooks", json={"url": url, "triggers": triggers or BOT_TRIGGERS})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def create_bot(tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await tenant.client.post("/api/v1/bots", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def get_bot(tenant: Tenant, bot_id: str) -> dict[str, Any]:
    response = await tenant.client.get(f"/api/v1/bots/{bot_id}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def bot_webhooks(context: AppContext, bot_id: str | None = None) -> list[dict[str, Any]]:
    """The bot webhooks queued so far, oldest first, as `{"trigger", "bot_id", **data}`."""
    async with context.db.read() as session:
        statement = select(WebhookDelivery).where(WebhookDelivery.bot_object_id.is_not(None))
        if bot_id is not None:
            statement = statement.where(WebhookDelivery.bot_object_id == bot_id)
        rows = (await session.execute(statement.order_by(WebhookDelivery.id))).scalars().all()
    return [{"trigger": row.trigger, "bot_id": row.bot_object_id, **row.data} for row in rows]


async def bot_row(context: AppContext, bot_id: str) -> Bot:
    async with context.db.read() as session:
        return (await session.execute(select(Bot).where(Bot.object_id == bot_id))).scalar_one()
