"""Platform faults are expected events, each with one defined action."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import structlog
from sqlalchemy import select

from calsync.context import AppContext
from calsync.store.models import OAuthClientThrottle
from calsync.worker.claims import claim_due_calendars
from calsync_emulator.client import EmulatorControl
from tests.support.service import Tenant
from tests.sync.conftest import calendar_row, connect_calendar, list_events, sync_once

PLATFORMS = ["google", "microsoft"]
BASE = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)


async def seeded(control: EmulatorControl, platform: str, count: int = 5) -> tuple[dict, list[dict]]:
    account = await control.create_account(platform)
    calendar_id = account["primary_calendar_id"]
    events = [
        await control.create_event(
            calendar_id, BASE + timedelta(hours=i), BASE + timedelta(hours=i, minutes=30), summary=f"E{i}"
        )
        for i in range(count)
    ]
    return account, events


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_expired_cursor_reconciles_deletions_made_in_the_gap(
    platform: str, control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    account, events = await seeded(control, platform)
    created = await connect_calendar(tenant, account)
    assert (await sync_once(context, created["id"])).mode == "full"
    await control.delete_event(account["primary_calendar_id"], events[1]["id"])
    await control.update_event(account["primary_calendar_id"], events[2]["id"], summary="Renamed")
    await control.expire_sync_state(account["id"])
    result = await sync_once(context, created["id"])
    assert result.error is None and result.mode == "full"
    rows = {e["name"]: e for e in await list_events(tenant, created["id"])}
    assert rows["E1"]["is_deleted"] is True, "deleted while the cursor was dead, found by the full diff"
    assert "Renamed" in rows and not rows["Renamed"]["is_deleted"]
    assert (await calendar_row(context, created["id"])).state == "connected"


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_revoked_grant_disconnects_with_reason_and_patch_reconnects(
    platform: str, control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    account, _ = await seeded(control, platform, 2)
    created = await connect_calendar(tenant, account)
    await sync_once(context, created["id"])
    await control.revoke_grant(account["id"])
    await control.expire_access_tokens(account["id"])
    with structlog.testing.capture_logs() as logs:
        result = await sync_once(context, created["id"])
    assert result.error is not None and result.error.disconnects
    assert any(entry["event"] == "calendar_sync_failed" for entry in logs)
    for secret in (account["refresh_token"], account["client_secret"]):
        assert secret not in repr(logs), "secrets never reach the logs"
    calendar = (await tenant.client.get(f"/api/v1/calendars/{created['id']}")).json()
    assert calendar["state"] == "disconnected"
    failure = calendar["connection_failure_data"]
    assert failure["code"] == "grant_revoked" and failure["error"] and failure["timestamp"].endswith("Z")
    assert account["refresh_token"] not in str(failure), "no secret in the failure data"
    assert calendar["next_sync_at"] is None, "a disconnected calendar waits for new credentials"
    assert len(await list_events(tenant, created["id"])) == 2, "events are kept"

    claims = await claim_due_calendars(context.db, "w", context.clock() + timedelta(days=2), limit=10, lease_seconds=5)
    assert claims == [], "nothing is due: a disconnected calendar is not retried until new credentials arrive"

    new_token = await control.restore_grant(account["id"])
    patched = await tenant.client.patch(f"/api/v1/calendars/{created['id']}", json={"refresh_token": new_token})
    assert patched.status_code == 200 and patched.json()["state"] == "disconnected"
    assert (await sync_once(context, created["id"])).error is None
    calendar = (await tenant.client.get(f"/api/v1/calendars/{created['id']}")).json()
    assert calendar["state"] == "connected" and calendar["connection_failure_data"] is None


@pytest.mark.parametrize(
    ("platform", "fault"),
    [
        ("google", "throttle_429"),
        ("google", "rate_limit_403"),
        ("google", "user_rate_limit_403"),
        ("microsoft", "throttle_429"),
        ("microsoft", "application_throttled_429"),
    ],
)
async def test_throttling_never_disconnects_and_respects_retry_after(
    platform: str, fault: str, control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    account, _ = await seeded(control, platform, 2)
    created = await connect_calendar(tenant, account)
    sibling = await connect_calendar(tenant, account, deduplication_key="sibling")
    await sync_once(context, created["id"])
    await control.add_fault(fault, account_id=account["id"], count=20, retry_after=120)
    before = context.clock()
    result = await sync_once(context, created["id"])
    assert result.error is not None and result.error.kind.value == "throttled"
    row = await calendar_row(context, created["id"])
    assert row.state == "connected"
    assert row.last_sync_error["code"] and row.last_sync_error["kind"] == "throttled"
    if fault != "rate_limit_403" and fault != "user_rate_limit_403":
        assert row.sync_due_at >= before + timedelta(seconds=119), "Retry-After is honoured"
    async with context.db.read() as session:
        throttle = (await session.execute(select(OAuthClientThrottle))).scalar_one()
    assert throttle.client_id == account["client_id"] and throttle.throttled_until > before
    await control.clear_requests()
    skipped = await sync_once(context, sibling["id"])
    assert skipped.mode == "skipped", "every calendar of a throttled OAuth client waits"
    assert await control.requests(account["id"]) == [], "and makes no call meanwhile"


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_transient_errors_retry_with_backoff_and_stay_visible(
    platform: str, control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    account, _ = await seeded(control, platform, 2)
    created = await connect_calendar(tenant, account)
    await sync_once(context, created["id"])
    await control.add_fault("error_503", account_id=account["id"], count=1)
    result = await sync_once(context, created["id"])
    assert result.error is not None and result.error.kind.value == "transient"
    calendar = (await tenant.client.get(f"/api/v1/calendars/{created['id']}")).json()
    assert calendar["state"] == "connected"
    assert calendar["last_sync_error"]["kind"] == "transient"
    row = await calendar_row(context, created["id"])
    assert row.consecutive_failures == 1 and row.sync_due_at > context.clock()
    assert (await sync_once(context, created["id"])).error is None
    calendar = (await tenant.client.get(f"/api/v1/calendars/{created['id']}")).json()
    assert calendar["last_sync_error"] is None


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_wrong_platform_uuid_is_reported_not_silent(
    platform: str, control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    account, _ = await seeded(control, platform, 1)
    created = await connect_calendar(tenant, account, platform_uuid="no-such-calendar")
    result = await sync_once(context, created["id"])
    assert result.error is not None
    calendar = (await tenant.client.get(f"/api/v1/calendars/{created['id']}")).json()
    assert calendar["state"] == "disconnected"
    assert calendar["connection_failure_data"]["code"] == "calendar_not_found"


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_expired_access_token_is_refreshed_transparently(
    platform: str, control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    account, _ = await seeded(control, platform, 1)
    created = await connect_calendar(tenant, account)
    await sync_once(context, created["id"])
    await control.expire_access_tokens(account["id"])
    result = await sync_once(context, created["id"])
    assert result.error is None
    assert (await calendar_row(context, created["id"])).state == "connected"


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_an_event_with_nul_in_its_text_is_stored_not_a_stuck_calendar(
    platform: str, control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    """PostgreSQL stores NUL neither in text nor in jsonb: one such event used to fail its calendar's every sync."""
    account = await control.create_account(platform)
    await control.create_event(
        account["primary_calendar_id"], BASE, BASE + timedelta(hours=1), summary="Stand\x00up", description="a\x00b"
    )
    await control.create_event(account["primary_calendar_id"], BASE, BASE + timedelta(hours=1), summary="Plain")
    created = await connect_calendar(tenant, account)
    result = await sync_once(context, created["id"])
    assert result.error is None
    names = sorted(row["name"] for row in await list_events(tenant, created["id"]))
    assert names == ["Plain", "Stand\ufffdup"]
    assert (await calendar_row(context, created["id"])).last_sync_error is None
