"""Create → events appear; changes flow incrementally; all-day, recurring and time-zone events on both platforms."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from calsync.context import AppContext
from calsync.store.models import Calendar
from calsync_emulator.client import EmulatorControl
from tests.support.service import Tenant
from tests.sync.conftest import connect_calendar, eventually, list_events, running_worker

PLATFORMS = ["google", "microsoft"]


def today() -> date:
    return datetime.now(UTC).date()


async def synced(context: AppContext, calendar_id: str, after: datetime | None = None) -> Calendar | None:
    async with context.db.read() as session:
        calendar = (await session.execute(select(Calendar).where(Calendar.object_id == calendar_id))).scalar_one()
    if calendar.last_successful_sync_at and (after is None or calendar.last_successful_sync_at > after):
        return calendar
    return None


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_created_calendar_is_mirrored(
    platform: str, control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    account = await control.create_account(platform, email="ada@example.com", time_zone="Europe/Berlin")
    calendar_id = account["primary_calendar_id"]
    start = datetime.combine(today() + timedelta(days=2), datetime.min.time()).replace(hour=15)
    await control.create_event(
        calendar_id,
        start,
        start + timedelta(minutes=45),
        time_zone="Europe/Berlin",
        summary="Planning",
        description="Join https://us02web.zoom.us/j/123456789?pwd=abc",
        attendees=[{"email": "bob@example.com", "name": "Bob", "response": "accepted"}],
        organizer_email="ada@example.com",
    )
    all_day = today() + timedelta(days=3)
    await control.create_event(calendar_id, all_day, all_day + timedelta(days=1), summary="Offsite")
    weekly_start = datetime.combine(today() + timedelta(days=1), datetime.min.time()).replace(hour=9)
    await control.create_event(
        calendar_id,
        weekly_start,
        weekly_start + timedelta(minutes=30),
        time_zone="America/New_York",
        summary="Standup",
        recurrence=["RRULE:FREQ=WEEKLY;COUNT=3"],
    )
    created = await connect_calendar(tenant, account)
    async with running_worker(context):
        calendar = await eventually(lambda: synced(context, created["id"]))
    assert calendar.state == "connected" and calendar.last_sync_error is None
    events = await list_events(tenant, created["id"])
    by_name: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_name.setdefault(event["name"], []).append(event)
    assert sorted(by_name) == ["Offsite", "Planning", "Standup"]

    [planning] = by_name["Planning"]
    berlin_start = start.replace(tzinfo=__import__("zoneinfo").ZoneInfo("Europe/Berlin")).astimezone(UTC)
    assert planning["start_time"] == berlin_start.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert planning["meeting_url"] == "https://us02web.zoom.us/j/123456789?pwd=abc"
    assert planning["meeting_platform"] == "zoom"
    assert any(a["email"] == "bob@example.com" and a["response_status"] == "accepted" for a in planning["attendees"])
    assert planning["is_deleted"] is False and planning["is_all_day"] is False

    [offsite] = by_name["Offsite"]
    assert offsite["is_all_day"] is True
    assert offsite["start_time"] == f"{all_day.isoformat()}T00:00:00.000000Z", "all-day dates never shift"
    assert offsite["end_time"] == f"{(all_day + timedelta(days=1)).isoformat()}T00:00:00.000000Z"

    standups = by_name["Standup"]
    assert len(standups) == 3, "a weekly series is stored as its instances"
    assert len({s["platform_uuid"] for s in standups}) == 3
    assert all(s["recurring_event_id"] for s in standups)


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_change_costs_one_incremental_list_call(
    platform: str, control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    account = await control.create_account(platform)
    calendar_id = account["primary_calendar_id"]
    base = datetime.combine(today() + timedelta(days=1), datetime.min.time()).replace(tzinfo=UTC)
    events = [
        await control.create_event(
            calendar_id, base + timedelta(hours=i), base + timedelta(hours=i, minutes=30), summary=f"Event {i}"
        )
        for i in range(20)
    ]
    created = await connect_calendar(tenant, account)
    async with running_worker(context):
        first = await eventually(lambda: synced(context, created["id"]))
        assert len(await list_events(tenant, created["id"])) == 20
        # Each change arrives by push and costs exactly one incremental listing call.
        await control.clear_requests()
        await control.update_event(
            calendar_id,
            events[5]["id"],
            summary="Moved",
            start=base + timedelta(days=2),
            end=base + timedelta(days=2, hours=1),
        )
        second = await eventually(lambda: synced(context, created["id"], after=first.last_successful_sync_at))
        await control.cancel_event(calendar_id, events[7]["id"])
        await eventually(lambda: synced(context, created["id"], after=second.last_successful_sync_at))
    requests = await control.requests(account["id"])
    calls = [r for r in requests if "token" not in r["path"]]
    assert len(calls) == 2, [(r["method"], r["path"]) for r in requests]
    rows = {e["name"]: e for e in await list_events(tenant, created["id"])}
    assert rows["Moved"]["start_time"].startswith((base + timedelta(days=2)).date().isoformat())
    assert rows["Event 7"]["is_deleted"] is True
    assert sum(1 for e in rows.values() if not e["is_deleted"]) == 19


async def test_a_claim_that_took_every_due_calendar_is_not_followed_by_an_empty_one(
    control: EmulatorControl, context: AppContext, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from calsync.worker import sync_loop

    account = await control.create_account("google", email="ada@example.com")
    await connect_calendar(tenant, account)
    claims: list[int] = []
    real = sync_loop.claim_due_calendars

    async def counting(*args: Any, **kwargs: Any) -> list[Any]:
        found = await real(*args, **kwargs)
        claims.append(len(found))
        return found

    monkeypatch.setattr(sync_loop, "claim_due_calendars", counting)
    loop = sync_loop.SyncLoop(context, "test-worker")
    try:
        assert await eventually(loop.run_once) == 1
        made = len(claims)
        # The runner calls again at once after a claim that took work: no transaction when it took every due one.
        assert await loop.run_once() == 0
        assert len(claims) == made
        assert await loop.run_once() == 0  # the call after that claims again
        assert len(claims) == made + 1
    finally:
        await loop.drain()
