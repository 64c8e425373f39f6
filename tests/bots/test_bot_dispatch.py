"""Dispatch: on time on the context's clock, exactly once through retried transactions and concurrent workers, woken
at once by new bots, and delivered to the runner as signed webhooks with the bot envelope."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select, update

from calsync.bots.dispatch import DISPATCH_GRAIN_SECONDS, BotDispatchLoop
from calsync.context import AppContext
from calsync.store.models import Bot, WebhookDelivery
from calsync.webhooks.delivery_loop import WebhookDeliveryLoop
from calsync.webhooks.signing import parse_secret, verify_attendee, verify_standard
from calsync.worker.runner import WorkerRunner
from calsync_emulator.client import EmulatorControl
from tests.bots.support import MEET, at, bot_webhooks, create_bot, get_bot, meeting, subscribe
from tests.support.service import Tenant
from tests.webhooks.support import frozen, running_receiver


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def dispatch_rows(context: AppContext) -> dict[str, int]:
    """bot id -> number of bot.dispatch outbox rows."""
    async with context.db.read() as session:
        rows = await session.execute(
            select(WebhookDelivery.bot_object_id, func.count())
            .where(WebhookDelivery.trigger == "bot.dispatch")
            .group_by(WebhookDelivery.bot_object_id)
        )
        return {str(bot_id): int(count) for bot_id, count in rows}


async def test_dispatched_at_its_dispatch_time_on_the_context_clock(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    await subscribe(tenant)
    clock = frozen(context)
    start = clock.now.replace(second=0) + timedelta(hours=1)
    event = await meeting(control, tenant, context, start)
    bot = await create_bot(tenant, calendar_event_id=event.event_id, dispatch_lead_seconds=300)
    loop = BotDispatchLoop(context)
    due_in = await loop.seconds_until_due()
    assert due_in == (start - timedelta(minutes=5) - clock.now).total_seconds()

    clock.now = start - timedelta(minutes=5, microseconds=1)
    assert await loop.run_once() == 0
    clock.now = start - timedelta(minutes=5)
    before = _sample("calsync_bots_dispatched_total", {"state": "dispatched"})
    assert await loop.run_once() == 1
    assert _sample("calsync_bots_dispatched_total", {"state": "dispatched"}) == before + 1
    assert await loop.run_once() == 0
    assert await loop.seconds_until_due() is None
    await create_bot(tenant, meeting_url=MEET)  # due already (while the loop was busy elsewhere)
    # Right after a dispatch, a bot that fell due waits for the grain (a kick for a new bot wakes the runner anyway).
    assert await loop.seconds_until_due() == DISPATCH_GRAIN_SECONDS

    dispatched = await get_bot(tenant, bot["id"])
    assert dispatched["state"] == "dispatched" and at(dispatched["dispatched_at"]) == clock.now
    clock.advance(seconds=DISPATCH_GRAIN_SECONDS / 2)
    assert await loop.seconds_until_due() == pytest.approx(DISPATCH_GRAIN_SECONDS / 2)
    clock.advance(seconds=DISPATCH_GRAIN_SECONDS / 2)
    assert await loop.seconds_until_due() == 0.0  # the grain has passed: due in 0 s
    assert dispatched["state_reason"]["code"] == "dispatch_time_reached"
    launch, change = await bot_webhooks(context, bot["id"])
    assert (launch["trigger"], change["trigger"]) == ("bot.dispatch", "bot.state_change")
    assert launch["bot"] == dispatched == change["bot"]
    assert launch["event"] == {
        "id": event.event_id,
        "name": "Design review",
        "start_time": bot["join_at"],
        "end_time": (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "meeting_url": MEET,
        "organizer": launch["event"]["organizer"],
        "attendees": launch["event"]["attendees"],
    }
    assert "ada@example.com" in [a["email"] for a in launch["event"]["attendees"]]
    assert (change["state"], change["previous_state"]) == ("dispatched", "scheduled")


async def test_a_bot_whose_dispatch_time_passed_is_dispatched_at_once_and_one_whose_meeting_ended_fails(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    clock = frozen(context)
    start = clock.now.replace(second=0) + timedelta(minutes=1)
    event = await meeting(control, tenant, context, start)
    soon = await create_bot(tenant, calendar_event_id=event.event_id)  # dispatch time one minute ago
    assert at(soon["dispatch_at"]) < clock.now
    missed = await create_bot(tenant, calendar_event_id=event.event_id, join_offset_seconds=600)
    loop = BotDispatchLoop(context)
    assert await loop.run_once() == 1
    assert (await get_bot(tenant, soon["id"]))["state"] == "dispatched"
    # Every worker was down until after the meeting: the bot that is due now cannot run any more.
    clock.advance(hours=2)
    assert await loop.run_once() == 1
    failed = await get_bot(tenant, missed["id"])
    assert (failed["state"], failed["state_reason"]["code"]) == ("failed", "dispatch_missed")


async def test_a_commit_whose_outcome_was_lost_is_not_dispatched_twice(
    context: AppContext, tenant: Tenant, monkeypatch: Any
) -> None:
    await subscribe(tenant)
    frozen(context)
    bots = [await create_bot(tenant, meeting_url=MEET) for _ in range(3)]
    write = context.db.write
    commits = 0

    @contextlib.asynccontextmanager
    async def connection_lost_after_commit() -> AsyncIterator[Any]:
        nonlocal commits
        async with write() as session:
            yield session
        commits += 1
        if commits == 1:
            # The COMMIT went through, but its answer never arrived: a transient fault, so the whole
            # transaction runs again (calsync.store.transient).
            raise ConnectionResetError("connection reset after COMMIT")

    monkeypatch.setattr(context.db, "write", connection_lost_after_commit)
    assert await BotDispatchLoop(context).run_once() == 0  # the re-run found nothing due any more
    assert commits == 2
    assert await dispatch_rows(context) == {bot["id"]: 1 for bot in bots}
    for bot in bots:
        assert (await get_bot(tenant, bot["id"]))["state"] == "dispatched"


async def test_concurrent_dispatchers_dispatch_each_bot_once(context: AppContext, tenant: Tenant) -> None:
    await subscribe(tenant)
    clock = frozen(context)
    for _ in range(120):
        await create_bot(tenant, meeting_url=MEET, join_at=(clock.now + timedelta(minutes=30)).isoformat())
    clock.advance(minutes=30)
    loops = [BotDispatchLoop(context, batch_size=7) for _ in range(3)]

    async def drain(loop: BotDispatchLoop) -> int:
        taken = 0
        while handled := await loop.run_once():
            taken += handled
        return taken

    counts = await asyncio.gather(*(drain(loop) for loop in loops))
    assert sum(counts) == 120
    rows = await dispatch_rows(context)
    assert len(rows) == 120 and set(rows.values()) == {1}


async def test_a_new_bot_wakes_an_idle_dispatcher_and_reaches_the_runner_signed(
    context: AppContext, tenant: Tenant
) -> None:
    # Polling every minute: only the wake-up (or the next due time) can make this dispatch happen in time.
    context.settings = context.settings.model_copy(update={"worker_poll_interval_seconds": 60.0})
    async with running_receiver() as receiver:
        hook = await subscribe(tenant, receiver.url, ["bot.dispatch"])
        secret = parse_secret(hook["signing_secret"]["secret"])
        runner = WorkerRunner(context, [BotDispatchLoop(context), WebhookDeliveryLoop(context)])
        task = asyncio.create_task(runner.run())
        try:
            now_bot = await create_bot(tenant, meeting_url=MEET, metadata={"user": "ada"})
            await receiver.wait_for(1, seconds=10)
            # A bot due a moment from now: the dispatcher sleeps until its due time, not for the poll interval.
            join_at = context.clock() + timedelta(seconds=1)
            later_bot = await create_bot(tenant, meeting_url=MEET, join_at=join_at.isoformat(), dispatch_lead_seconds=0)
            await receiver.wait_for(2, seconds=10)
        finally:
            runner.stop()
            await task
    first, second = (request for request in receiver.requests)
    for request in (first, second):
        verify_attendee(secret, request.body, request.headers["x-webhook-signature"])
        verify_standard(secret, request.headers, request.body)
    envelope = json.loads(first.body)
    assert set(envelope) == {"idempotency_key", "trigger", "bot_id", "bot_metadata", "data"}
    assert (envelope["trigger"], envelope["bot_id"], envelope["bot_metadata"]) == (
        "bot.dispatch",
        now_bot["id"],
        {"user": "ada"},
    )
    assert envelope["data"]["bot"]["state"] == "dispatched" and envelope["data"]["event"] is None
    assert first.headers["webhook-id"] == envelope["idempotency_key"]
    assert json.loads(second.body)["bot_id"] == later_bot["id"]
    dispatched_at = at((await get_bot(tenant, later_bot["id"]))["dispatched_at"])
    assert dispatched_at is not None and dispatched_at >= join_at
    log = await tenant.client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", params={"bot_id": now_bot["id"]})
    [delivery] = log.json()["results"]
    assert (delivery["trigger"], delivery["bot_id"], delivery["status"]) == ("bot.dispatch", now_bot["id"], "succeeded")


async def test_bot_metadata_is_read_when_the_webhook_is_delivered(context: AppContext, tenant: Tenant) -> None:
    async with running_receiver() as receiver:
        await subscribe(tenant, receiver.url, ["bot.dispatch"])
        frozen(context)
        bot = await create_bot(tenant, meeting_url=MEET, metadata={"v": "1"})
        assert await BotDispatchLoop(context).run_once() == 1
        await tenant.client.patch(f"/api/v1/bots/{bot['id']}", json={"metadata": {"v": "2"}})
        delivery = WebhookDeliveryLoop(context)
        assert await delivery.run_once() == 1
        await delivery.drain()
    envelope = json.loads(receiver.requests[0].body)
    assert envelope["bot_metadata"] == {"v": "2"} and envelope["data"]["bot"]["metadata"] == {"v": "1"}


async def test_nothing_is_due_while_no_bot_is_scheduled(context: AppContext, tenant: Tenant) -> None:
    loop = BotDispatchLoop(context)
    assert await loop.run_once() == 0 and await loop.seconds_until_due() is None
    bot = await create_bot(tenant, meeting_url=MEET, join_at=(context.clock() + timedelta(days=1)).isoformat())
    await tenant.client.delete(f"/api/v1/bots/{bot['id']}")
    async with context.db.read() as session:
        assert (await session.execute(select(Bot.dispatch_due_at))).scalar_one() is None
    assert await loop.seconds_until_due() is None
    async with context.db.write() as session:  # (a stale due time on a cancelled row would be a bug)
        await session.execute(update(Bot).values(dispatch_due_at=None))
