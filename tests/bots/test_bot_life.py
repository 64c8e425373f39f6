"""The whole life of a bot against the emulator, over HTTP, on both databases: its event moved, its link changed,
cancelled and restored, its calendar disconnected, reconnected and deleted, dispatched and then moved or cancelled.
Every change is synced by the sync engine (`sync_once`) and every webhook read from the outbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from calsync.bots.dispatch import BotDispatchLoop
from calsync.context import AppContext
from calsync_emulator.client import EmulatorControl
from tests.bots.support import (
    MEET,
    OTHER_MEET,
    at,
    bot_row,
    bot_webhooks,
    create_bot,
    get_bot,
    meeting,
    subscribe,
    tomorrow,
)
from tests.support.service import Tenant
from tests.webhooks.support import frozen


def transitions(webhooks: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (w["previous_state"], w["state"], w["state_reason"]["code"])
        for w in webhooks
        if w["trigger"] == "bot.state_change"
    ]


def triggers(webhooks: list[dict[str, Any]]) -> list[str]:
    return [w["trigger"] for w in webhooks]


async def test_before_dispatch_the_bot_follows_moves_and_link_changes_with_one_update_each(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    await subscribe(tenant)
    start = tomorrow()
    event = await meeting(control, tenant, context, start)
    bot = await create_bot(tenant, calendar_event_id=event.event_id, join_offset_seconds=-60)

    later = start + timedelta(hours=2)
    await control.update_event(
        event.platform_calendar_id, event.platform_event_id, start=later, end=later + timedelta(minutes=30)
    )
    await event.sync(context)
    moved = await get_bot(tenant, bot["id"])
    assert at(moved["join_at"]) == later - timedelta(minutes=1)
    assert at(moved["dispatch_at"]) == later - timedelta(minutes=3)
    assert moved["state"] == "scheduled" and moved["meeting_url"] == MEET
    [update] = await bot_webhooks(context)
    assert update["trigger"] == "bot.updated" and update["bot_id"] == bot["id"]
    assert update["previous"] == {"join_at": bot["join_at"], "meeting_url": MEET}
    assert update["bot"] == moved

    await control.update_event(event.platform_calendar_id, event.platform_event_id, meeting_url=OTHER_MEET)
    await event.sync(context)
    relinked = await get_bot(tenant, bot["id"])
    assert relinked["meeting_url"] == OTHER_MEET and relinked["join_at"] == moved["join_at"]
    updates = await bot_webhooks(context)
    assert triggers(updates) == ["bot.updated", "bot.updated"]
    assert updates[1]["previous"] == {"join_at": moved["join_at"], "meeting_url": MEET}
    assert relinked["updated_at"] > moved["updated_at"] > bot["updated_at"]

    # A change of something the bot does not follow (the title) costs it nothing.
    await control.update_event(event.platform_calendar_id, event.platform_event_id, summary="Renamed")
    await event.sync(context)
    assert len(await bot_webhooks(context)) == 2
    assert await get_bot(tenant, bot["id"]) == relinked


async def test_link_removed_fails_the_bot_and_a_new_link_brings_it_back(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    await subscribe(tenant)
    event = await meeting(control, tenant, context, tomorrow())
    bot = await create_bot(tenant, calendar_event_id=event.event_id, deduplication_key="rec")
    await control.update_event(event.platform_calendar_id, event.platform_event_id, meeting_url="")
    await event.sync(context)
    failed = await get_bot(tenant, bot["id"])
    assert failed["state"] == "failed" and failed["meeting_url"] == MEET  # says what it would have joined
    assert failed["state_reason"]["code"] == "meeting_url_removed"
    assert (await bot_row(context, bot["id"])).dispatch_due_at is None

    await control.update_event(event.platform_calendar_id, event.platform_event_id, meeting_url=OTHER_MEET)
    await event.sync(context)
    back = await get_bot(tenant, bot["id"])
    assert (back["state"], back["state_reason"]["code"], back["meeting_url"]) == (
        "scheduled",
        "event_restored",
        OTHER_MEET,
    )
    webhooks = await bot_webhooks(context)
    assert transitions(webhooks) == [
        ("scheduled", "failed", "meeting_url_removed"),
        ("failed", "scheduled", "event_restored"),
    ]
    assert [w["previous"]["meeting_url"] for w in webhooks if w["trigger"] == "bot.updated"] == [MEET]


async def test_cancelled_event_cancels_the_bot_and_restoring_it_brings_the_bot_back(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    await subscribe(tenant)
    for platform in ("google", "microsoft"):
        event = await meeting(control, tenant, context, tomorrow(), platform=platform)
        bot = await create_bot(tenant, calendar_event_id=event.event_id, deduplication_key=f"key-{platform}")
        await control.cancel_event(event.platform_calendar_id, event.platform_event_id)
        await event.sync(context)
        cancelled = await get_bot(tenant, bot["id"])
        assert (cancelled["state"], cancelled["state_reason"]["code"]) == ("cancelled", "event_cancelled")

        await control.restore_event(event.platform_calendar_id, event.platform_event_id)
        await event.sync(context)
        restored = await get_bot(tenant, bot["id"])
        assert (restored["state"], restored["state_reason"]["code"]) == ("scheduled", "event_restored")
        assert restored["join_at"] == bot["join_at"] and (await bot_row(context, bot["id"])).dispatch_due_at
        assert transitions(await bot_webhooks(context, bot["id"])) == [
            ("scheduled", "cancelled", "event_cancelled"),
            ("cancelled", "scheduled", "event_restored"),
        ]

    # Once its key went to a newer bot, a cancelled bot stays cancelled when its event comes back.
    event = await meeting(control, tenant, context, tomorrow())
    old = await create_bot(tenant, calendar_event_id=event.event_id, deduplication_key="shared")
    await control.delete_event(event.platform_calendar_id, event.platform_event_id)
    await event.sync(context)
    newer = await create_bot(tenant, meeting_url=MEET, deduplication_key="shared")
    await control.restore_event(event.platform_calendar_id, event.platform_event_id)
    await event.sync(context)
    assert (await get_bot(tenant, old["id"]))["state"] == "cancelled"
    assert (await get_bot(tenant, newer["id"]))["state"] == "scheduled"


async def test_disconnect_pauses_reconnect_resumes_and_dispatches_at_once_when_due(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    await subscribe(tenant)
    clock = frozen(context)
    start = clock.now.replace(second=0) + timedelta(hours=1)
    event = await meeting(control, tenant, context, start, minutes=60)
    bot = await create_bot(tenant, calendar_event_id=event.event_id)
    started_meanwhile = await create_bot(
        tenant, meeting_url=MEET, join_at=(start - timedelta(minutes=30)).isoformat()
    )  # (a bot without an event is not paused: it has no calendar)

    await control.revoke_grant(event.account["id"])
    await control.expire_access_tokens(event.account["id"])
    await event.sync(context)
    paused = await get_bot(tenant, bot["id"])
    assert (paused["state"], paused["state_reason"]["code"]) == ("paused", "calendar_disconnected")
    assert (await bot_row(context, bot["id"])).dispatch_due_at is None
    assert (await get_bot(tenant, started_meanwhile["id"]))["state"] == "scheduled"
    await event.sync(context)  # still disconnected: nothing more
    assert len(transitions(await bot_webhooks(context, bot["id"]))) == 1

    # Reconnected after its dispatch time passed, before the meeting starts: scheduled, then dispatched at once.
    clock.advance(minutes=59)
    refresh_token = await control.restore_grant(event.account["id"])
    response = await tenant.client.patch(
        f"/api/v1/calendars/{event.calendar_id}", json={"refresh_token": refresh_token}
    )
    assert response.status_code == 200, response.text
    await event.sync(context)
    resumed = await get_bot(tenant, bot["id"])
    assert (resumed["state"], resumed["state_reason"]["code"]) == ("scheduled", "calendar_reconnected")
    assert await BotDispatchLoop(context).run_once() >= 1
    dispatched = await get_bot(tenant, bot["id"])
    assert dispatched["state"] == "dispatched" and at(dispatched["dispatched_at"]) == clock.now
    assert transitions(await bot_webhooks(context, bot["id"])) == [
        ("scheduled", "paused", "calendar_disconnected"),
        ("paused", "scheduled", "calendar_reconnected"),
        ("scheduled", "dispatched", "dispatch_time_reached"),
    ]


async def test_a_meeting_that_started_while_disconnected_fails_its_bot_on_reconnect(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    clock = frozen(context)
    start = clock.now.replace(second=0) + timedelta(hours=1)
    event = await meeting(control, tenant, context, start, minutes=60)
    bot = await create_bot(tenant, calendar_event_id=event.event_id)
    await control.revoke_grant(event.account["id"])
    await control.expire_access_tokens(event.account["id"])
    await event.sync(context)
    clock.advance(minutes=65)
    refresh_token = await control.restore_grant(event.account["id"])
    await tenant.client.patch(f"/api/v1/calendars/{event.calendar_id}", json={"refresh_token": refresh_token})
    await event.sync(context)
    failed = await get_bot(tenant, bot["id"])
    assert (failed["state"], failed["state_reason"]["code"]) == ("failed", "missed_while_paused")


async def test_calendar_deleted_cancels_its_bots_which_stay_readable(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    await subscribe(tenant)
    clock = frozen(context)
    start = clock.now.replace(second=0) + timedelta(hours=1)
    event = await meeting(control, tenant, context, start)
    scheduled = await create_bot(tenant, calendar_event_id=event.event_id)
    dispatched = await create_bot(tenant, calendar_event_id=event.event_id, dispatch_lead_seconds=3600)
    assert await BotDispatchLoop(context).run_once() == 1
    assert (await tenant.client.delete(f"/api/v1/calendars/{event.calendar_id}")).status_code == 200
    for bot in (scheduled, dispatched):
        after = await get_bot(tenant, bot["id"])
        assert (after["state"], after["state_reason"]["code"]) == ("cancelled", "calendar_deleted")
        assert (after["calendar_id"], after["calendar_event_id"]) == (event.calendar_id, event.event_id)
    assert transitions(await bot_webhooks(context, dispatched["id"]))[-1] == (
        "dispatched",
        "cancelled",
        "calendar_deleted",
    )
    listed = (await tenant.client.get("/api/v1/bots", params={"calendar_id": event.calendar_id})).json()["results"]
    assert {b["id"] for b in listed} == {scheduled["id"], dispatched["id"]}


async def test_after_dispatch_the_runner_hears_of_moves_stand_downs_and_cancellation(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    await subscribe(tenant)
    clock = frozen(context)
    start = clock.now.replace(second=0) + timedelta(hours=1)
    event = await meeting(control, tenant, context, start)
    bot = await create_bot(tenant, calendar_event_id=event.event_id)
    loop = BotDispatchLoop(context)
    clock.now = at(bot["dispatch_at"])  # type: ignore[assignment]
    assert await loop.run_once() == 1

    # Moved a little: it stays dispatched, and the runner gets the new join time.
    near = start + timedelta(minutes=3)
    await control.update_event(
        event.platform_calendar_id, event.platform_event_id, start=near, end=near + timedelta(minutes=30)
    )
    await event.sync(context)
    still = await get_bot(tenant, bot["id"])
    assert still["state"] == "dispatched" and at(still["join_at"]) == near
    # Moved far: it stands down (back to scheduled) and is dispatched again in time.
    far = start + timedelta(hours=3)
    await control.update_event(
        event.platform_calendar_id, event.platform_event_id, start=far, end=far + timedelta(minutes=30)
    )
    await event.sync(context)
    stood_down = await get_bot(tenant, bot["id"])
    assert (stood_down["state"], stood_down["state_reason"]["code"]) == ("scheduled", "event_rescheduled")
    assert stood_down["dispatched_at"] is None
    assert await loop.run_once() == 0
    clock.now = far - timedelta(minutes=2)
    assert await loop.run_once() == 1
    # Cancelled after dispatch: the runner is told, so it can pull the bot out.
    await control.delete_event(event.platform_calendar_id, event.platform_event_id)
    await event.sync(context)
    webhooks = await bot_webhooks(context, bot["id"])
    assert triggers(webhooks) == [
        "bot.dispatch",
        "bot.state_change",
        "bot.updated",
        "bot.updated",
        "bot.state_change",
        "bot.dispatch",
        "bot.state_change",
        "bot.state_change",
    ]
    assert transitions(webhooks) == [
        ("scheduled", "dispatched", "dispatch_time_reached"),
        ("dispatched", "scheduled", "event_rescheduled"),
        ("scheduled", "dispatched", "dispatch_time_reached"),
        ("dispatched", "cancelled", "event_cancelled"),
    ]
    assert webhooks[2]["previous"]["join_at"] == bot["join_at"] and webhooks[2]["bot"]["state"] == "dispatched"
    assert [w["event"]["start_time"] for w in webhooks if w["trigger"] == "bot.dispatch"] == [
        bot["join_at"],
        far.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    ]


async def test_a_dispatched_bot_whose_meeting_is_over_is_left_alone(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    clock = frozen(context)
    start = clock.now.replace(second=0) + timedelta(minutes=30)
    event = await meeting(control, tenant, context, start)
    bot = await create_bot(tenant, calendar_event_id=event.event_id)
    clock.now = start
    assert await BotDispatchLoop(context).run_once() == 1
    clock.now = start + timedelta(hours=1)  # the meeting is over; now someone deletes the past event
    await control.delete_event(event.platform_calendar_id, event.platform_event_id)
    await event.sync(context)
    assert (await get_bot(tenant, bot["id"]))["state"] == "dispatched"


async def test_delete_cancels_and_tells_the_runner_of_a_dispatched_bot(context: AppContext, tenant: Tenant) -> None:
    await subscribe(tenant)
    clock = frozen(context)
    waiting = await create_bot(tenant, meeting_url=MEET, join_at=(clock.now + timedelta(hours=1)).isoformat())
    launched = await create_bot(tenant, meeting_url=MEET)
    assert await BotDispatchLoop(context).run_once() == 1
    for bot, previous in ((waiting, "scheduled"), (launched, "dispatched")):
        response = await tenant.client.delete(f"/api/v1/bots/{bot['id']}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["state"], body["state_reason"]["code"]) == ("cancelled", "cancelled_by_request")
        assert transitions(await bot_webhooks(context, bot["id"]))[-1] == (
            previous,
            "cancelled",
            "cancelled_by_request",
        )
    again = await tenant.client.delete(f"/api/v1/bots/{launched['id']}")
    assert again.status_code == 200 and again.json()["state"] == "cancelled"
    assert len(transitions(await bot_webhooks(context, launched["id"]))) == 2  # dispatched, cancelled: no more
    assert (await bot_row(context, waiting["id"])).dispatch_due_at is None
