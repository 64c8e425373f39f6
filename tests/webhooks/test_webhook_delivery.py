"""The delivery loop against real local receivers, with time driven by a frozen clock (no sleeps)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from calsync.context import AppContext
from calsync.store.models import DeliveryStatus, WebhookDelivery, WebhookDeliveryAttempt, WebhookSubscription
from calsync.webhooks import delivery_loop
from calsync.webhooks.delivery_loop import WebhookDeliveryLoop
from calsync.webhooks.outbox import Outgoing, enqueue_webhooks
from calsync.webhooks.signing import parse_secret, verify_attendee, verify_standard
from tests.support.service import Tenant
from tests.webhooks.support import (
    Receiver,
    create_calendar,
    create_webhook,
    deliveries,
    enqueue,
    frozen,
    pump,
    running_receiver,
)


async def all_settled(context: AppContext) -> bool:
    return all(d.status in ("succeeded", "failed") for d in await deliveries(context))


async def test_delivers_signed_envelope_built_at_delivery_time(context: AppContext, tenant: Tenant) -> None:
    clock = frozen(context)
    async with running_receiver() as receiver:
        hook = await create_webhook(tenant, receiver.url)
        secret = parse_secret(hook["signing_secret"]["secret"])
        calendar = await create_calendar(tenant, deduplication_key="dk", metadata={"team": "a"})
        assert await enqueue(context, calendar["id"]) == 1
        # Metadata changed after the trigger: the envelope carries what the calendar is at delivery time.
        await tenant.client.patch(f"/api/v1/calendars/{calendar['id']}", json={"metadata": {"team": "b"}})
        loop = WebhookDeliveryLoop(context)
        await pump(context, loop, clock, lambda: all_settled(context))
    [request] = receiver.requests
    payload = json.loads(request.body)
    [row] = await deliveries(context)
    assert payload["idempotency_key"] == row.idempotency_key == request.headers["webhook-id"]
    assert payload["calendar_id"] == calendar["id"]
    assert payload["calendar_deduplication_key"] == "dk"
    assert payload["calendar_metadata"] == {"team": "b"}
    assert payload["trigger"] == "calendar.events_update"
    assert payload["data"]["changes"]["created"] == {"count": 1, "ids": ["evt_a"]}
    assert payload["data"]["changes"]["updated"]["fields"] == {"evt_b": ["start_time"]}
    verify_attendee(secret, request.body, request.headers["x-webhook-signature"])
    verify_standard(secret, request.headers, request.body, now=int(clock.now.timestamp()))
    assert row.status == "succeeded" and row.attempts == 1 and row.next_attempt_at is None
    assert row.delivered_at == clock.now and row.last_status_code == 200


async def test_receiver_down_for_a_while_gets_every_delivery_with_the_same_keys(
    context: AppContext, tenant: Tenant
) -> None:
    clock = frozen(context)
    async with running_receiver(status=503) as receiver:
        await create_webhook(tenant, receiver.url)
        calendar = await create_calendar(tenant)
        for _ in range(5):
            await enqueue(context, calendar["id"])
        start = clock.now

        async def outage(_round: int) -> None:
            # Down for two hours of (frozen) time, then back.
            receiver.status = 503 if clock.now < start + timedelta(hours=2) else 200

        loop = WebhookDeliveryLoop(context)
        await pump(context, loop, clock, lambda: all_settled(context), before_round=outage)
        await loop.drain()
    rows = await deliveries(context)
    assert [r.status for r in rows] == ["succeeded"] * 5
    assert all(r.attempts > 3 for r in rows)  # far beyond Attendee's 3 quick attempts
    by_key: dict[str, list[int]] = {}
    for request in receiver.requests:
        by_key.setdefault(request.headers["webhook-id"], []).append(
            json.loads(request.body)["idempotency_key"] == request.headers["webhook-id"]
        )
    assert set(by_key) == {r.idempotency_key for r in rows}
    assert all(all(same) for same in by_key.values())
    assert sum(len(v) for v in by_key.values()) == sum(r.attempts for r in rows)
    async with context.db.read() as session:
        attempts = (await session.execute(select(WebhookDeliveryAttempt))).scalars().all()
    assert len(attempts) == len(receiver.requests)
    assert {a.status_code for a in attempts} == {503, 200}
    assert all(a.error == "HTTP 503" for a in attempts if a.status_code == 503)
    # The webhook was failing during the outage and is healthy again after the first success.
    hook = (await tenant.client.get("/api/v1/webhooks")).json()["results"][0]
    assert hook["health"]["state"] == "healthy" and hook["health"]["consecutive_failures"] == 0


async def test_gives_up_after_the_horizon_and_marks_the_webhook_failing(context: AppContext, tenant: Tenant) -> None:
    clock = frozen(context)
    async with running_receiver(status=500) as receiver:
        hook = await create_webhook(tenant, receiver.url)
        calendar = await create_calendar(tenant)
        await enqueue(context, calendar["id"])
        loop = WebhookDeliveryLoop(context)
        await pump(context, loop, clock, lambda: all_settled(context), max_rounds=500)
    [row] = await deliveries(context)
    assert row.status == "failed" and row.next_attempt_at is None
    assert row.last_attempt_at == row.created_at + timedelta(hours=24)  # the last chance is at the horizon
    health = (await tenant.client.get(f"/api/v1/webhooks/{hook['id']}")).json()["health"]
    assert health["state"] == "failing" and health["last_error"] == "HTTP 500"
    assert health["failing_since"] is not None


async def slow_backlog_beside_one(
    context: AppContext, tenant: Tenant, slow: Receiver, healthy: Receiver, backlog: int = 10
) -> dict[str, Any]:
    """`backlog` deliveries queued for a webhook at `slow`, then one for another project's webhook at `healthy`;
    the calendar of the slow webhook's deliveries."""
    await create_webhook(tenant, slow.url)
    other = await new_project_webhook(context, tenant, healthy.url)
    calendar = await create_calendar(tenant)
    other_calendar = await create_calendar(other)
    for _ in range(backlog):
        await enqueue(context, calendar["id"])
    await enqueue(context, other_calendar["id"])
    return calendar


async def test_slow_receiver_does_not_hold_up_a_healthy_one(context: AppContext, tenant: Tenant) -> None:
    frozen(context)
    async with running_receiver(hang=True) as slow, running_receiver() as healthy:
        await slow_backlog_beside_one(context, tenant, slow, healthy)
        loop = WebhookDeliveryLoop(context, per_subscription=2, max_in_flight=8)
        # Keep claiming while the slow endpoint holds its two slots: the healthy delivery goes through.
        for _ in range(5):
            await loop.run_once()
        await healthy.wait_for(1)
        await slow.wait_for(2)
        assert len(slow.requests) == 2  # its per-endpoint limit; the other 8 wait in the database
        slow.release()
        await loop.drain()
    rows = await deliveries(context)
    assert sum(r.status == "succeeded" for r in rows) == 3
    assert sum(r.status == "pending" and r.attempts == 0 for r in rows) == 8


async def test_one_claim_reads_past_a_webhook_it_filled_to_the_next_ones_rows(
    context: AppContext, tenant: Tenant
) -> None:
    frozen(context)
    async with running_receiver(hang=True) as slow, running_receiver() as healthy:
        await slow_backlog_beside_one(context, tenant, slow, healthy)
        # Batches of 4: the first read sees only the slow webhook's rows and fills its 2 slots (none claimed ahead).
        loop = WebhookDeliveryLoop(context, per_subscription=2, max_in_flight=8, batch_size=4, claim_ahead_rounds=0)
        assert await loop.run_once() == 3  # its 2, and the other webhook's row found by a second read
        await healthy.wait_for(1)
        await slow.wait_for(2)
        assert await loop.run_once() == 0  # the claim saw every due row it had room for: no empty claim after it
        slow.release()
        await loop.drain()
    rows = await deliveries(context)
    assert sum(r.status == "succeeded" for r in rows) == 3
    assert sum(r.status == "pending" and r.attempts == 0 for r in rows) == 8


async def test_a_bot_launch_is_claimed_before_older_informational_deliveries(
    context: AppContext, tenant: Tenant
) -> None:
    clock = frozen(context)
    async with running_receiver(hang=True) as runner:
        await create_webhook(tenant, runner.url, triggers=["calendar.events_update", "bot.dispatch"])
        calendar = await create_calendar(tenant)
        for _ in range(3):
            await enqueue(context, calendar["id"])
        clock.advance(seconds=1)
        async with context.db.write() as session:
            launch = Outgoing("bot.dispatch", {"bot": {"id": "bot_a"}}, bot_object_id="bot_a")
            assert await enqueue_webhooks(session, tenant.project_id, [launch], context.clock()) == 1
        loop = WebhookDeliveryLoop(context, per_subscription=2, claim_ahead_rounds=0)
        await loop.run_once()
        await runner.wait_for(2)
        claimed = [(r.trigger, r.status) for r in await deliveries(context) if r.status == "delivering"]
        # The launch, though due last, and then the oldest of the others.
        assert sorted(claimed) == [("bot.dispatch", "delivering"), ("calendar.events_update", "delivering")]
        runner.release()
        await loop.drain()


async def new_project_webhook(context: AppContext, tenant: Tenant, url: str) -> Tenant:
    from tests.support.service import new_tenant

    other = await new_tenant(context, str(tenant.client.base_url).rstrip("/"), "other")
    await create_webhook(other, url)
    return other


async def test_expired_lease_of_a_dead_worker_is_reclaimed(context: AppContext, tenant: Tenant) -> None:
    clock = frozen(context)
    async with running_receiver() as receiver:
        await create_webhook(tenant, receiver.url)
        calendar = await create_calendar(tenant)
        await enqueue(context, calendar["id"])
        # A worker claimed it and died before sending: its lease runs until a minute from now.
        async with context.db.write() as session:
            await session.execute(
                update(WebhookDelivery).values(
                    status=DeliveryStatus.DELIVERING.value,
                    lease_owner="dead-worker",
                    lease_expires_at=clock.now + timedelta(minutes=1),
                    next_attempt_at=clock.now + timedelta(minutes=1),
                )
            )
        loop = WebhookDeliveryLoop(context)
        assert await loop.run_once() == 0  # still leased
        clock.advance(minutes=1)
        assert await loop.run_once() == 1
        await loop.drain()
    [row] = await deliveries(context)
    assert row.status == "succeeded" and row.lease_owner is None
    assert len(receiver.requests) == 1


async def test_ssrf_refusal_is_recorded_as_the_attempts_error(context: AppContext, tenant: Tenant) -> None:
    clock = frozen(context)
    async with running_receiver() as receiver:
        await create_webhook(tenant, receiver.url)
        calendar = await create_calendar(tenant)
        await enqueue(context, calendar["id"])
        # The deployment tightened its policy after the webhook was created.
        context.settings = context.settings.model_copy(update={"webhook_allow_private_targets": False})
        loop = WebhookDeliveryLoop(context)
        await loop.run_once()
        await loop.drain()
    assert receiver.requests == []
    [row] = await deliveries(context)
    assert row.status == "pending" and row.next_attempt_at is not None and row.next_attempt_at > clock.now
    assert row.last_error is not None and row.last_error.startswith("target refused:")
    async with context.db.read() as session:
        [attempt] = (await session.execute(select(WebhookDeliveryAttempt))).scalars().all()
    assert attempt.status_code is None and attempt.error == row.last_error


async def test_deleted_calendar_omits_calendar_keys_and_inactive_webhook_is_not_sent(
    context: AppContext, tenant: Tenant
) -> None:
    clock = frozen(context)
    async with running_receiver() as receiver, running_receiver() as paused:
        await create_webhook(tenant, receiver.url)
        paused_hook = await create_webhook(tenant, paused.url)
        calendar = await create_calendar(tenant)
        await enqueue(context, calendar["id"])
        await tenant.client.patch(f"/api/v1/webhooks/{paused_hook['id']}", json={"is_active": False})
        assert (await tenant.client.delete(f"/api/v1/calendars/{calendar['id']}")).status_code == 200
        loop = WebhookDeliveryLoop(context)
        await pump(context, loop, clock, lambda: all_settled(context))
    [request] = receiver.requests
    payload = json.loads(request.body)
    assert "calendar_id" not in payload and "calendar_metadata" not in payload
    assert payload["trigger"] == "calendar.events_update"
    assert paused.requests == []
    rows = await deliveries(context)
    assert sorted((r.status, r.last_error) for r in rows) == [
        ("failed", "webhook is inactive"),
        ("succeeded", None),
    ]
    assert all(r.calendar_id is None and r.calendar_object_id == calendar["id"] for r in rows)


async def test_during_rotation_both_secrets_sign(context: AppContext, tenant: Tenant) -> None:
    clock = frozen(context)
    async with running_receiver() as receiver:
        hook = await create_webhook(tenant, receiver.url)
        old = parse_secret(hook["signing_secret"]["secret"])
        rotated = await tenant.client.post("/api/v1/webhook_secret/rotate", json={})
        assert rotated.status_code == 201
        new = parse_secret(rotated.json()["secret_whsec"])
        calendar = await create_calendar(tenant)
        await enqueue(context, calendar["id"])
        loop = WebhookDeliveryLoop(context)
        await pump(context, loop, clock, lambda: all_settled(context))
        [request] = receiver.requests
        now = int(clock.now.timestamp())
        for key in (old, new):
            verify_standard(key, request.headers, request.body, now=now)
        assert len(request.headers["webhook-signature"].split()) == 2
        verify_attendee(new, request.body, request.headers["x-webhook-signature"])  # newest only
        # After the overlap only the new secret signs.
        clock.advance(hours=73)
        await enqueue(context, calendar["id"])
        await pump(context, loop, clock, lambda: all_settled(context))
    later = receiver.requests[-1]
    assert len(later.headers["webhook-signature"].split()) == 1
    verify_standard(new, later.headers, later.body, now=int(clock.now.timestamp()))


async def test_webhook_deleted_while_its_delivery_is_in_flight(context: AppContext, tenant: Tenant) -> None:
    frozen(context)
    async with running_receiver(hang=True) as doomed, running_receiver(hang=True) as kept:
        doomed_hook = await create_webhook(tenant, doomed.url)
        await create_webhook(tenant, kept.url)
        calendar = await create_calendar(tenant)
        assert await enqueue(context, calendar["id"]) == 2
        loop = WebhookDeliveryLoop(context)
        assert await loop.run_once() == 2
        await doomed.wait_for(1)
        await kept.wait_for(1)
        assert (await tenant.client.delete(f"/api/v1/webhooks/{doomed_hook['id']}")).status_code == 200
        doomed.release()
        kept.release()
        await loop.drain()
    [row] = await deliveries(context)
    assert row.status == "succeeded" and row.attempts == 1


async def test_a_webhook_in_a_failure_streak_gets_one_slot(context: AppContext, tenant: Tenant) -> None:
    frozen(context)
    async with running_receiver(hang=True) as dead, running_receiver() as healthy:
        calendar = await slow_backlog_beside_one(context, tenant, dead, healthy, backlog=5)
        async with context.db.write() as session:
            await session.execute(
                update(WebhookSubscription).where(WebhookSubscription.url == dead.url).values(consecutive_failures=3)
            )
        loop = WebhookDeliveryLoop(context)
        for _ in range(5):
            await loop.run_once()
        await healthy.wait_for(1)
        await dead.wait_for(1)
        for _ in range(3):
            await loop.run_once()
        # Claimed (and so being sent) for the struggling webhook: exactly one; the rest wait in the database.
        assert sorted(r.status for r in await deliveries(context) if r.calendar_object_id == calendar["id"]) == [
            "delivering",
            "pending",
            "pending",
            "pending",
            "pending",
        ]
        dead.release()
        await loop.drain()


async def test_answers_wait_for_a_batch_and_a_claim_records_none_of_them(
    context: AppContext, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The recorder waits for a fuller batch while a send is in flight (made endless here); a claim records nothing,
    # so its rows are not held back by a record's round trips.
    monkeypatch.setattr(delivery_loop, "RECORD_LINGER_SECONDS", 3600.0)
    frozen(context)
    async with running_receiver(hang=True) as slow, running_receiver() as fast:
        await create_webhook(tenant, slow.url)
        await create_webhook(tenant, fast.url)
        calendar = await create_calendar(tenant)
        await enqueue(context, calendar["id"])  # one delivery to each webhook
        loop = WebhookDeliveryLoop(context)
        assert await loop.run_once() == 2
        await asyncio.gather(*(task for task, job in loop._tasks.items() if job.url == fast.url))
        assert [r.status for r in await deliveries(context)] == ["delivering", "delivering"]  # answered, not recorded
        assert await loop.run_once() == 0  # (the first claim saw every due row: no claim right after it)
        await enqueue(context, calendar["id"])
        assert await loop.run_once() == 2
        assert [row.status for row in await deliveries(context) if row.attempts] == []  # the claim recorded none
        slow.release()
        await loop.drain()  # no send left in flight: the recorder records what waits
    assert [r.status for r in await deliveries(context)] == ["succeeded"] * 4


async def webhook_with_backlog(context: AppContext, tenant: Tenant, url: str, count: int) -> None:
    await create_webhook(tenant, url)
    calendar = await create_calendar(tenant)
    for _ in range(count):
        await enqueue(context, calendar["id"])


async def test_rows_claimed_ahead_start_as_their_webhooks_slots_free_without_another_claim(
    context: AppContext, tenant: Tenant
) -> None:
    frozen(context)
    async with running_receiver(hang=True) as slow:
        await webhook_with_backlog(context, tenant, slow.url, 6)
        loop = WebhookDeliveryLoop(context, per_subscription=2, claim_ahead_rounds=1)
        assert await loop.run_once() == 4  # its 2 slots and 2 rows ahead
        await slow.wait_for(2)
        assert len(slow.requests) == 2  # never more than its slots in flight
        assert [r.status for r in await deliveries(context)].count("delivering") == 4
        slow.release()
        await slow.wait_for(4)  # the rows ahead went out as the first two answered, with no claim between
        assert await loop.run_once() == 0  # (the first claim saw every due row it had room for)
        assert await loop.run_once() == 2
        await loop.drain()
    assert [r.status for r in await deliveries(context)] == ["succeeded"] * 6


async def test_a_launch_claimed_after_rows_claimed_ahead_goes_out_before_them(
    context: AppContext, tenant: Tenant
) -> None:
    frozen(context)
    async with running_receiver(hang=True) as runner:
        await create_webhook(tenant, runner.url, triggers=["calendar.events_update", "bot.dispatch"])
        calendar = await create_calendar(tenant)
        for _ in range(2):
            await enqueue(context, calendar["id"])
        # One slot, three rows ahead: the first update is sent, the second waits here.
        loop = WebhookDeliveryLoop(context, per_subscription=1, claim_ahead_rounds=3)
        assert await loop.run_once() == 2
        assert await loop.run_once() == 0  # (that claim saw every due row it had room for)
        await runner.wait_for(1)
        async with context.db.write() as session:
            launch = Outgoing("bot.dispatch", {"bot": {"id": "bot_a"}}, bot_object_id="bot_a")
            assert await enqueue_webhooks(session, tenant.project_id, [launch], context.clock()) == 1
        assert await loop.run_once() == 1
        runner.release()  # one slot: the rest go out one after another, in the order they start
        await runner.wait_for(3)
        await loop.drain()
    triggers = [json.loads(request.body)["trigger"] for request in runner.requests]
    assert triggers == ["calendar.events_update", "bot.dispatch", "calendar.events_update"]


async def test_rows_claimed_ahead_for_a_webhook_that_fails_are_handed_back_unsent(
    context: AppContext, tenant: Tenant
) -> None:
    frozen(context)
    async with running_receiver(hang=True, status=500) as failing:
        await webhook_with_backlog(context, tenant, failing.url, 4)
        loop = WebhookDeliveryLoop(context, per_subscription=2, claim_ahead_rounds=1)
        assert await loop.run_once() == 4
        await failing.wait_for(2)
        failing.release()
        await asyncio.gather(*loop._tasks)  # both answer 500: at one slot, the two ahead would outlive their leases
        await loop.drain()
        assert len(failing.requests) == 2
    rows = await deliveries(context)
    assert sorted((r.status, r.attempts, r.lease_owner) for r in rows) == [
        ("pending", 0, None),
        ("pending", 0, None),
        ("pending", 1, None),
        ("pending", 1, None),
    ]


async def test_a_row_claimed_ahead_whose_lease_runs_short_is_handed_back_not_sent(
    context: AppContext, tenant: Tenant
) -> None:
    clock = frozen(context)
    async with running_receiver(hang=True) as slow:
        await webhook_with_backlog(context, tenant, slow.url, 2)
        loop = WebhookDeliveryLoop(context, per_subscription=1, claim_ahead_rounds=1)
        assert await loop.run_once() == 2  # one sending, one ahead
        await slow.wait_for(1)
        # The first attempt took so long that the second could no longer be attempted and recorded in its lease.
        clock.advance(seconds=loop.lease.total_seconds() - loop.timeout - delivery_loop.LEASE_MARGIN_SECONDS / 2 + 1)
        slow.release()
        await asyncio.gather(*loop._tasks)
        await loop.drain()
        assert len(slow.requests) == 1
    first, second = await deliveries(context)
    assert (first.status, first.attempts) == ("succeeded", 1)
    assert (second.status, second.attempts, second.lease_owner, second.next_attempt_at) == (
        "pending",
        0,
        None,
        clock.now,
    )
