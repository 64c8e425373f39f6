"""Issue 11 regressions, each of which failed on f573745: syncs of one project commit concurrently with a webhook
subscribed (no deadlock); database faults are retried, not turned into failed work; push receivers answer 503
(never 500) when the database is unreachable and record the notification once it is back; a change made while the
first channel is opened is synced; notifications refused during downtime are caught up; a revoked grant is noticed
with a healthy channel; the webhook payload carries the time of the sync that made the change."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.context import AppContext
from calsync.providers.base import NormalizedEvent
from calsync.providers.google import GoogleProvider
from calsync.providers.microsoft import MicrosoftProvider
from calsync.push import catchup
from calsync.push.missed import MissedNotifications
from calsync.push.upkeep import PushUpkeep
from calsync.store.db import Database
from calsync.store.models import Calendar, PushChannel, WebhookDelivery
from calsync.sync.apply import plan_page, write_page
from calsync.webhooks.announce import announce_event_changes
from calsync_emulator.client import EmulatorControl
from tests.api.seed import SEED_REQUEST
from tests.support.service import Tenant
from tests.sync.conftest import calendar_row, connect_calendar, eventually, list_events, running_worker, sync_once
from tests.webhooks.support import create_webhook

PLATFORMS = ["google", "microsoft"]
BASE = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
UNREACHABLE_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:1/unreachable"
HOOK = "http://127.0.0.1:9/hook"  # never delivered to: no delivery loop runs in these tests


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def deadlocks(database_url: str) -> int:
    connection = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        value: int = await connection.fetchval(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        )
        return value
    finally:
        await connection.close()


def postgres_only(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite admits one writer at a time: there is no concurrent commit to test")


async def calendar_pk(context: AppContext, object_id: str) -> int:
    async with context.db.read() as session:
        return (await session.execute(select(Calendar.id).where(Calendar.object_id == object_id))).scalar_one()


def platform_event(uuid: str) -> NormalizedEvent:
    return NormalizedEvent(
        platform_uuid=uuid, is_deleted=False, start_time=BASE, end_time=BASE + timedelta(hours=1), name=uuid
    )


# -- 1. no deadlock between syncs of one project -------------------------------------------------------------------


async def test_two_syncs_of_one_project_with_a_webhook_commit_without_deadlock(
    context: AppContext, tenant: Tenant, database_url: str
) -> None:
    """Both transactions queue their webhook (the outbox row's foreign key takes FOR KEY SHARE on the project row)
    before either takes the project's change clock: with FOR UPDATE each waited for the other's key-share lock."""
    postgres_only(database_url)
    await create_webhook(tenant, HOOK)
    pks = []
    for index in range(2):
        created = await tenant.client.post("/api/v1/calendars", json={**SEED_REQUEST, "deduplication_key": f"d{index}"})
        pks.append(await calendar_pk(context, created.json()["id"]))
    before = await deadlocks(database_url)

    async with contextlib.AsyncExitStack() as stack:
        halves: list[tuple[contextlib.AsyncExitStack, AsyncSession, Calendar, Any]] = []
        for index, pk in enumerate(pks):
            transaction = contextlib.AsyncExitStack()
            stack.push_async_exit(transaction)
            session = await transaction.enter_async_context(context.db.write())
            calendar = await session.get(Calendar, pk)
            assert calendar is not None
            plan = await plan_page(session, calendar, [platform_event(f"e{index}")], [])
            assert await announce_event_changes(session, calendar, plan.changes, context.clock()) == 1
            halves.append((transaction, session, calendar, plan))

        async def finish(transaction: contextlib.AsyncExitStack, session: AsyncSession, calendar: Calendar, plan: Any):
            await write_page(session, calendar, plan, context.clock())
            await transaction.aclose()  # commit

        async with asyncio.timeout(20):
            await asyncio.gather(*(finish(*half) for half in halves))

    assert await deadlocks(database_url) == before
    async with context.db.read() as session:
        assert len((await session.execute(select(WebhookDelivery))).scalars().all()) == 2


async def test_many_workers_sync_one_project_with_a_webhook_without_deadlock(
    control: EmulatorControl, context: AppContext, tenant: Tenant, database_url: str
) -> None:
    await create_webhook(tenant, HOOK)
    created = []
    for index in range(12):
        account = await control.create_account(PLATFORMS[index % 2])
        for hour in range(3):
            start = BASE + timedelta(hours=hour)
            await control.create_event(account["primary_calendar_id"], start, start + timedelta(minutes=30))
        created.append((await connect_calendar(tenant, account))["id"])
    before = await deadlocks(database_url) if not database_url.startswith("sqlite") else 0

    async def all_synced() -> bool:
        rows = [await calendar_row(context, object_id) for object_id in created]
        return all(row.last_successful_sync_at is not None for row in rows)

    async with running_worker(context, "w1"), running_worker(context, "w2"), running_worker(context, "w3"):
        await eventually(all_synced, seconds=60)
    for object_id in created:
        row = await calendar_row(context, object_id)
        assert row.last_sync_error is None and row.consecutive_failures == 0
        assert len(await list_events(tenant, object_id)) == 3
    if not database_url.startswith("sqlite"):
        assert await deadlocks(database_url) == before


# -- 2. transient database faults are retried -----------------------------------------------------------------------


async def test_a_write_whose_connection_is_terminated_is_run_again(context: AppContext, database_url: str) -> None:
    postgres_only(database_url)
    runs = 0

    async def body(session: AsyncSession) -> int:
        nonlocal runs
        runs += 1
        pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        if runs == 1:
            admin = await asyncpg.connect(_asyncpg_dsn(database_url))
            try:
                assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
            finally:
                await admin.close()
        value: int = (await session.execute(text("SELECT 41 + 1"))).scalar_one()
        return value

    assert await context.db.write_retrying(body, what="test") == 42
    assert runs == 2


# -- 3. push receivers and the API when the database is unreachable ---------------------------------------------------


@contextlib.asynccontextmanager
async def database_unreachable(context: AppContext):  # type: ignore[no-untyped-def]
    real, context.db = context.db, Database(UNREACHABLE_DATABASE)
    try:
        yield
    finally:
        await context.db.dispose()
        context.db = real


async def connected_with_push(control: EmulatorControl, context: AppContext, tenant: Tenant, platform: str):  # type: ignore[no-untyped-def]
    account = await control.create_account(platform)
    event = await control.create_event(account["primary_calendar_id"], BASE, BASE + timedelta(minutes=30), summary="v1")
    created = await connect_calendar(tenant, account)
    assert (await sync_once(context, created["id"])).error is None
    row = await calendar_row(context, created["id"])
    assert row.push_state == "active", row.push_error
    return account, event, created


async def google_notification_headers(control: EmulatorControl, context: AppContext) -> dict[str, str]:
    """What Google sends for a change on the (one) calendar with a channel."""
    async with context.db.read() as session:
        channel = (await session.execute(select(PushChannel))).scalar_one()
    [remote] = [c for c in await control.channels() if c["id"] == channel.channel_id]
    return {
        "X-Goog-Channel-ID": channel.channel_id,
        "X-Goog-Channel-Token": remote["token"],
        "X-Goog-Resource-State": "exists",
    }


async def test_push_receiver_answers_503_and_records_the_notification_when_the_database_is_back(
    control: EmulatorControl, context: AppContext, tenant: Tenant, api_url: str, app: FastAPI
) -> None:
    _account, _event, created = await connected_with_push(control, context, tenant, "google")
    headers = await google_notification_headers(control, context)
    before = (await calendar_row(context, created["id"])).sync_due_at
    async with database_unreachable(context), httpx.AsyncClient(base_url=api_url) as client:
        response = await client.post("/external_webhooks/google_calendar", headers=headers)
        api = await client.get("/api/v1/calendars", headers={"Authorization": f"Token {tenant.api_key}"})
    assert response.status_code == 503 and response.headers["retry-after"]
    assert response.json()["code"] == "database_unavailable"
    assert api.status_code == 503 and api.json()["code"] == "database_unavailable"
    assert (await calendar_row(context, created["id"])).sync_due_at == before
    missed: MissedNotifications = app.state.missed_pushes
    assert len(missed) == 1

    upkeep = PushUpkeep(context, missed)
    upkeep.last_reached = context.clock()  # the process has been reaching the database until just now
    await upkeep.run_once()
    row = await calendar_row(context, created["id"])
    assert row.sync_due_at < before and row.sync_reason == "push" and len(missed) == 0


# -- 4. no gap while the first channel is opened --------------------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_change_made_while_the_channel_is_opened_is_synced(
    platform: str, control: EmulatorControl, context: AppContext, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = await control.create_account(platform)
    event = await control.create_event(account["primary_calendar_id"], BASE, BASE + timedelta(minutes=30), summary="v1")
    created = await connect_calendar(tenant, account)
    provider_class: Any = GoogleProvider if platform == "google" else MicrosoftProvider
    original = provider_class.open_channel

    async def open_while_changing(self: Any, *args: Any, **kwargs: Any) -> Any:
        # The change lands on the platform at the worst moment: after calsync decided to open the channel and
        # before the channel exists, so the platform has nobody to notify.
        await control.update_event(account["primary_calendar_id"], event["id"], summary="v2")
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(provider_class, "open_channel", open_while_changing)
    assert (await sync_once(context, created["id"])).error is None
    monkeypatch.setattr(provider_class, "open_channel", original)
    [stored] = await list_events(tenant, created["id"])
    assert stored["name"] == "v2", "the listing comes after the channel exists"
    assert (await calendar_row(context, created["id"])).push_state == "active"


# -- 5. catch-up after downtime ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_notifications_refused_while_down_are_caught_up_after_start(
    platform: str, control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    account, event, created = await connected_with_push(control, context, tenant, platform)
    # calsync is "down": the platform's notification for this change goes nowhere.
    await control.add_fault("drop_notifications", account_id=account["id"])
    await control.update_event(account["primary_calendar_id"], event["id"], summary="changed while down")
    await control.wait_notifications()
    await control.clear_faults()
    row = await calendar_row(context, created["id"])
    assert row.sync_due_at > context.clock() + timedelta(minutes=30), "nothing else would sync it soon"

    upkeep = PushUpkeep(context, MissedNotifications())
    assert await upkeep.run_once() == 1, "a starting receiver catches up every calendar with a channel"
    row = await calendar_row(context, created["id"])
    assert row.sync_reason == catchup.REASON and row.sync_due_at <= context.clock() + catchup.MIN_SPREAD
    assert await upkeep.run_once() == 0, "no gap since: no second catch-up"

    async def caught_up() -> bool:
        return [e["name"] for e in await list_events(tenant, created["id"])] == ["changed while down"]

    async with running_worker(context):
        await eventually(caught_up)

    gap = timedelta(seconds=context.settings.push_catchup_gap_seconds)
    upkeep.last_reached = context.clock() - gap - timedelta(seconds=1)  # the database was unreachable that long
    assert await upkeep.run_once() == 1


def test_catch_up_keeps_its_rate_at_any_size() -> None:
    assert catchup.spread_for(1) == catchup.MIN_SPREAD
    assert catchup.spread_for(10_000) == timedelta(seconds=500)
    assert catchup.spread_for(100_000) == timedelta(seconds=5_000), "a larger fleet takes longer, never faster"


def test_catch_up_reaches_the_soonest_due_calendars_first() -> None:
    now = datetime(2026, 12, 7, 9, tzinfo=UTC)
    # Calendar 1 is idle (checked in hours), 2 has a meeting check soon, 3 is due before any slot, 4 disconnected.
    due_times = [(1, now + timedelta(hours=5)), (2, now + timedelta(minutes=3)), (3, now), (4, None)]
    due_times += [(100 + n, now + timedelta(hours=1, seconds=n)) for n in range(2_000)]
    changes = catchup.plan_catch_up(due_times, now)
    slots = {change["id"]: change["sync_due_at"] for change in changes}
    assert [change["id"] for change in changes] == sorted(slots), "written in id order (the lock order)"
    assert 3 not in slots and 4 not in slots, "never later than its own due time; disconnected left alone"
    assert slots[2] < min(slots[100 + n] for n in range(2_000)) < slots[1], "soonest due first"
    per_second = Counter(int((slot - now).total_seconds()) for slot in slots.values())
    assert max(per_second.values()) <= catchup.CATCH_UP_RATE + 1  # +1: a slot on a second's edge
    assert all(change["sync_reason"] == catchup.REASON for change in changes)


# -- 6. a revoked grant is noticed while the channel looks healthy -------------------------------------------------


async def test_revoked_google_grant_is_noticed_by_the_safety_net_sync(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    account, _event, created = await connected_with_push(control, context, tenant, "google")
    row = await calendar_row(context, created["id"])
    bound = timedelta(seconds=context.settings.push_safety_net_seconds)
    assert row.sync_due_at <= context.clock() + bound
    await control.revoke_grant(account["id"])
    real_clock = context.clock
    context.clock = lambda: real_clock() + bound + timedelta(seconds=1)

    async def disconnected() -> Any:
        row = await calendar_row(context, created["id"])
        return row if row.state == "disconnected" else None

    async with running_worker(context):
        row = await eventually(disconnected)
    assert row.connection_failure_data["code"] == "grant_revoked"


async def test_revoked_microsoft_grant_is_noticed_from_the_lifecycle_event(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    account, _event, created = await connected_with_push(control, context, tenant, "microsoft")

    async def disconnected() -> Any:
        row = await calendar_row(context, created["id"])
        return row if row.state == "disconnected" else None

    async with running_worker(context):
        await control.revoke_grant(account["id"])
        row = await eventually(disconnected)
    assert row.connection_failure_data["code"] == "grant_revoked"


# -- 7. the payload's last_successful_sync_at -----------------------------------------------------------------------


async def test_events_update_payload_carries_the_time_of_the_sync_that_made_the_change(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    await create_webhook(tenant, HOOK)
    account = await control.create_account("google")
    event = await control.create_event(account["primary_calendar_id"], BASE, BASE + timedelta(minutes=30), summary="v1")
    created = await connect_calendar(tenant, account)
    await sync_once(context, created["id"])
    first = (await calendar_row(context, created["id"])).last_successful_sync_at
    await control.update_event(account["primary_calendar_id"], event["id"], summary="v2")
    await sync_once(context, created["id"])
    second = (await calendar_row(context, created["id"])).last_successful_sync_at
    async with context.db.read() as session:
        latest = (
            await session.execute(select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(1))
        ).scalar_one()
    stamped = datetime.fromisoformat(latest.data["last_successful_sync_at"].replace("Z", "+00:00"))
    assert first < stamped <= second


async def test_a_notification_for_a_calendar_a_sync_holds_is_accepted_and_recorded_right_after(
    control: EmulatorControl, context: AppContext, tenant: Tenant, api_url: str, app: FastAPI, database_url: str
) -> None:
    """The receiver does not wait for a sync's transaction (it can queue behind the project's change clock): it
    keeps the notification, answers at once, and the upkeep records it when the row is free."""
    postgres_only(database_url)
    _account, _event, created = await connected_with_push(control, context, tenant, "google")
    headers = await google_notification_headers(control, context)
    before = (await calendar_row(context, created["id"])).sync_due_at
    async with context.db.write() as holder:  # a sync's fenced transaction on this calendar, not yet committed
        await holder.execute(
            select(Calendar).where(Calendar.object_id == created["id"]).with_for_update(key_share=True)
        )
        async with httpx.AsyncClient(base_url=api_url) as client:
            response = await client.post("/external_webhooks/google_calendar", headers=headers)
        assert response.status_code == 200
    missed: MissedNotifications = app.state.missed_pushes
    assert len(missed) == 1 and missed.waiting.is_set()
    upkeep = PushUpkeep(context, missed)
    upkeep.last_reached = context.clock()
    await upkeep.run_once()
    row = await calendar_row(context, created["id"])
    assert row.sync_due_at < before and row.sync_reason == "push" and len(missed) == 0


async def test_a_read_whose_pooled_connection_was_terminated_is_answered(
    context: AppContext, tenant: Tenant, database_url: str
) -> None:
    postgres_only(database_url)
    assert (await tenant.client.get("/api/v1/calendars")).status_code == 200  # the pool holds a connection now
    admin = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    response = await tenant.client.get("/api/v1/calendars")
    assert response.status_code == 200, response.text
