"""Push channels end to end: the emulator notifies calsync's receivers, which authenticate and debounce."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from sqlalchemy import select

from calsync.context import AppContext
from calsync.push import receiver
from calsync.store.models import PushChannel
from calsync_emulator.client import EmulatorControl
from tests.support.service import Tenant
from tests.sync.conftest import calendar_row, connect_calendar, eventually, list_events, running_worker, sync_once

PLATFORMS = ["google", "microsoft"]
BASE = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)


async def channels(context: AppContext) -> list[PushChannel]:
    async with context.db.read() as session:
        return list((await session.execute(select(PushChannel))).scalars().all())


async def connected_with_push(control: EmulatorControl, context: AppContext, tenant: Tenant, platform: str):
    account = await control.create_account(platform)
    event = await control.create_event(
        account["primary_calendar_id"], BASE, BASE + timedelta(minutes=30), summary="Before"
    )
    created = await connect_calendar(tenant, account)
    result = await sync_once(context, created["id"])
    assert result.error is None
    row = await calendar_row(context, created["id"])
    assert row.push_state == "active", row.push_error
    return account, event, created


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_change_on_platform_is_visible_within_seconds(
    platform: str, control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    account, event, created = await connected_with_push(control, context, tenant, platform)
    [channel] = await channels(context)
    async with running_worker(context):
        await control.update_event(account["primary_calendar_id"], event["id"], summary="After")

        async def renamed() -> bool:
            rows = await list_events(tenant, created["id"])
            return any(row["name"] == "After" for row in rows)

        await eventually(renamed, seconds=10)
    [after] = await channels(context)
    assert after.last_notification_at is not None and after.channel_id == channel.channel_id


async def test_google_notification_with_wrong_token_is_rejected(
    control: EmulatorControl, context: AppContext, tenant: Tenant, api_url: str
) -> None:
    _account, _event, created = await connected_with_push(control, context, tenant, "google")
    [channel] = await channels(context)
    before = (await calendar_row(context, created["id"])).sync_due_at
    headers = {
        "X-Goog-Channel-ID": channel.channel_id,
        "X-Goog-Channel-Token": "forged",
        "X-Goog-Resource-State": "exists",
        "X-Goog-Resource-ID": channel.resource_id or "",
        "X-Goog-Message-Number": "5",
    }
    async with httpx.AsyncClient(base_url=api_url) as client:
        forged = await client.post("/external_webhooks/google_calendar", headers=headers)
        unknown = await client.post(
            "/external_webhooks/google_calendar", headers={**headers, "X-Goog-Channel-ID": "nope"}
        )
        handshake = await client.post(
            "/external_webhooks/google_calendar", headers={**headers, "X-Goog-Resource-State": "sync"}
        )
    assert forged.status_code == 401 and unknown.status_code == 401
    assert handshake.status_code == 200
    assert (await calendar_row(context, created["id"])).sync_due_at == before, "nothing was scheduled"


async def test_graph_batch_is_processed_whole_and_client_state_checked(
    control: EmulatorControl, context: AppContext, tenant: Tenant, api_url: str
) -> None:
    _account, _event, created = await connected_with_push(control, context, tenant, "microsoft")
    [channel] = await channels(context)
    [subscription] = [s for s in await control.subscriptions() if s["id"] == channel.channel_id]
    good = {"subscriptionId": channel.channel_id, "clientState": subscription["client_state"], "changeType": "updated"}
    body = {"value": [{"subscriptionId": "unknown", "clientState": "x"}, {**good, "clientState": "forged"}, good]}
    before = (await calendar_row(context, created["id"])).sync_due_at
    async with httpx.AsyncClient(base_url=api_url) as client:
        response = await client.post("/external_webhooks/microsoft_calendar", json=body)
        echo = await client.post("/external_webhooks/microsoft_calendar?validationToken=abc%20123")
        invalid = await client.post(
            "/external_webhooks/microsoft_calendar", content=b"{", headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 202
    assert echo.status_code == 200 and echo.text == "abc 123" and echo.headers["content-type"].startswith("text/plain")
    assert invalid.status_code == 400
    after = (await calendar_row(context, created["id"])).sync_due_at
    assert after < before, "the authentic notification (last in the batch) was processed"


async def test_graph_lifecycle_events(control: EmulatorControl, context: AppContext, tenant: Tenant) -> None:
    _account, _event, created = await connected_with_push(control, context, tenant, "microsoft")
    [channel] = await channels(context)
    await control.send_lifecycle(channel.channel_id, "reauthorizationRequired")
    await control.wait_notifications(5)
    assert (await sync_once(context, created["id"])).error is None
    [renewed] = await channels(context)
    assert renewed.channel_id == channel.channel_id, "reauthorized by PATCH, same subscription"
    assert renewed.expires_at > datetime.now(UTC) + timedelta(days=2)

    await control.send_lifecycle(channel.channel_id, "subscriptionRemoved")
    await control.wait_notifications(5)
    assert (await sync_once(context, created["id"])).error is None
    [recreated] = await channels(context)
    assert recreated.channel_id != channel.channel_id, "a removed subscription is recreated"

    await control.send_lifecycle(recreated.channel_id, "missed")
    await control.wait_notifications(5)
    row = await calendar_row(context, created["id"])
    assert row.next_full_sync_at <= datetime.now(UTC), "missed notifications trigger a full resync"
    assert (await sync_once(context, created["id"])).mode == "reconcile"


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_deleting_a_calendar_stops_its_channel_on_the_platform(
    platform: str, control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    _account, _event, created = await connected_with_push(control, context, tenant, platform)
    assert len(await live_channels(control, platform)) == 1
    assert (await tenant.client.delete(f"/api/v1/calendars/{created['id']}")).status_code == 200
    assert (await tenant.client.get(f"/api/v1/calendars/{created['id']}")).status_code == 404
    assert await list_events(tenant, created["id"]) == []
    async with running_worker(context):
        await eventually(lambda: _no_rows(context), seconds=10)
    assert await live_channels(control, platform) == [], "stopped on the platform, not left to expire"


async def _no_rows(context: AppContext) -> bool:
    return not await channels(context)


async def live_channels(control: EmulatorControl, platform: str) -> list[dict]:
    if platform == "google":
        return [c for c in await control.channels() if c["live"]]
    return await control.subscriptions()


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_platform_calendars_lists_the_accounts_calendars(
    platform: str, control: EmulatorControl, tenant: Tenant
) -> None:
    account = await control.create_account(platform)
    extra = await control.add_calendar(account["id"], "Team rota")
    created = await connect_calendar(tenant, account)
    response = await tenant.client.get(f"/api/v1/calendars/{created['id']}/platform_calendars")
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert {r["platform_uuid"] for r in results} >= {account["primary_calendar_id"], extra["id"]}
    [primary] = [r for r in results if r["is_primary"]]
    assert primary["selected"] is True
    await control.revoke_grant(account["id"])
    await control.expire_access_tokens(account["id"])
    refused = await tenant.client.get(f"/api/v1/calendars/{created['id']}/platform_calendars")
    assert refused.status_code == 409 and refused.json()["code"] == "grant_revoked"


async def test_a_notification_for_a_channel_replaced_meanwhile_still_schedules_its_calendar(
    control: EmulatorControl, context: AppContext, tenant: Tenant, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync may delete (replace) a channel between the receiver's read and its write: the batch still counts."""
    if context.db.is_sqlite:
        pytest.skip("SQLite serialises the receiver's and the sync's transactions: the interleaving cannot happen")
    _account, _event, created = await connected_with_push(control, context, tenant, "microsoft")
    [channel] = await channels(context)
    [subscription] = [s for s in await control.subscriptions() if s["id"] == channel.channel_id]
    before = (await calendar_row(context, created["id"])).sync_due_at

    def replace_channel_then_check(found: PushChannel, presented: str | None) -> bool:
        # Runs after the receiver read the channel: another connection deletes it and commits, as a sync would.
        async def delete() -> None:
            connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
            try:
                await connection.execute("DELETE FROM push_channels WHERE id = $1", found.id)
            finally:
                await connection.close()

        worker = threading.Thread(target=asyncio.run, args=(delete(),))
        worker.start()
        worker.join(timeout=10)
        return real_authentic(found, presented)

    real_authentic = receiver.authentic
    monkeypatch.setattr(receiver, "authentic", replace_channel_then_check)
    notification = receiver.Notification(channel.channel_id, subscription["client_state"])
    assert await receiver.record(context, [notification]) == (1, 0)
    assert await channels(context) == []
    assert (await calendar_row(context, created["id"])).sync_due_at < before, "its calendar is still made due"
