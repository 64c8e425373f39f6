"""End to end with the sync engine and the emulator: a changed event produces a signed `calendar.events_update`
naming the event and its changed fields; a revoked grant produces exactly one `calendar.state_change`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from calsync.context import AppContext
from calsync.webhooks.delivery_loop import WebhookDeliveryLoop
from calsync.webhooks.signing import parse_secret, verify_attendee, verify_standard
from calsync_emulator.client import EmulatorControl
from tests.support.service import Tenant
from tests.sync.conftest import (  # noqa: F401 - fixtures: the emulator-backed settings of the sync suite
    api_port,
    api_url,
    connect_calendar,
    control,
    list_events,
    settings,
    sync_once,
)
from tests.webhooks.support import Receiver, running_receiver

START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)


async def deliver_all(context: AppContext) -> None:
    loop = WebhookDeliveryLoop(context)
    for _ in range(20):
        if not await loop.run_once():
            break
    await loop.drain()


def received(receiver: Receiver, secret: bytes) -> list[dict[str, Any]]:
    payloads = []
    for request in receiver.requests:
        verify_attendee(secret, request.body, request.headers["x-webhook-signature"])
        verify_standard(secret, request.headers, request.body)
        payloads.append(json.loads(request.body))
    return payloads


@pytest.mark.parametrize("platform", ["google", "microsoft"])
async def test_event_change_and_revoked_grant_reach_the_receiver(
    platform: str,
    control: EmulatorControl,  # noqa: F811 - the imported fixture
    context: AppContext,
    tenant: Tenant,
) -> None:
    async with running_receiver() as receiver:
        created_hook = await tenant.client.post(
            "/api/v1/webhooks",
            json={"url": receiver.url, "triggers": ["calendar.events_update", "calendar.state_change"]},
        )
        assert created_hook.status_code == 201, created_hook.text
        secret = parse_secret(created_hook.json()["signing_secret"]["secret"])
        account = await control.create_account(platform)
        calendar_id = account["primary_calendar_id"]
        event = await control.create_event(calendar_id, START, START + timedelta(minutes=30), summary="Sync")
        created = await connect_calendar(tenant, account)
        await sync_once(context, created["id"])
        await deliver_all(context)
        [first] = received(receiver, secret)
        [ours] = await list_events(tenant, created["id"])
        assert first["trigger"] == "calendar.events_update" and first["calendar_id"] == created["id"]
        assert first["data"]["changes"]["created"] == {"count": 1, "ids": [ours["id"]]}

        await control.update_event(
            calendar_id,
            event["id"],
            start=START + timedelta(hours=1),
            end=START + timedelta(hours=2),
            meeting_url="https://meet.google.com/abc-defg-hij",
        )
        await sync_once(context, created["id"])
        await deliver_all(context)
        second = received(receiver, secret)[1]
        assert second["trigger"] == "calendar.events_update"
        updated = second["data"]["changes"]["updated"]
        assert updated["ids"] == [ours["id"]]
        assert {"start_time", "end_time", "meeting_url"} <= set(updated["fields"][ours["id"]])

        await control.revoke_grant(account["id"])
        await control.expire_access_tokens(account["id"])
        await sync_once(context, created["id"])
        await sync_once(context, created["id"])  # still revoked: no second transition, no second webhook
        await deliver_all(context)
        later = received(receiver, secret)[2:]
        assert [p["trigger"] for p in later] == ["calendar.state_change"]
        assert later[0]["data"]["state"] == "disconnected" and later[0]["data"]["previous_state"] == "connected"
        assert later[0]["data"]["connection_failure_data"]["code"] == "grant_revoked"
