"""Recording answered attempts (calsync.webhooks.claims.record_attempts) on both databases: a batch that all
succeeded takes PostgreSQL's one-statement path, a mixed one the general path; both must log an attempt once even
when the transaction is re-run after a commit whose outcome a dropped connection hid, and must not move a row whose
lease another worker holds now."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from calsync.context import AppContext
from calsync.store.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookSubscription
from calsync.webhooks import bulk_postgres, claims
from calsync.webhooks.backoff import RetryPolicy
from calsync.webhooks.sender import AttemptResult
from tests.support.service import Tenant
from tests.webhooks.support import create_calendar, create_webhook, deliveries, enqueue, frozen

OWNER = "worker-a"
OK = AttemptResult(200, "ok", None, 1.5, True)
DOWN = AttemptResult(503, "down", "HTTP 503", 2.0, False)


async def claim(context: AppContext, count: int) -> list[claims.Job]:
    async with context.db.write() as session:
        result = await claims.claim_due(
            session,
            context.secrets,
            owner=OWNER,
            now=context.clock(),
            lease=timedelta(minutes=5),
            limit=count,
            concurrency=claims.Concurrency(64, 1, {}),
            full=[],
        )
    assert len(result.jobs) == count
    return result.jobs


async def record(context: AppContext, attempts: list[claims.Attempted]) -> list[str | None]:
    async with context.db.write() as session:
        return await claims.record_attempts(
            session,
            attempts,
            owner=OWNER,
            now=context.clock(),
            policy=RetryPolicy.from_settings(context.settings),
            rng=random.Random(1),
        )


async def logged(context: AppContext) -> int:
    async with context.db.read() as session:
        return int((await session.execute(select(func.count(WebhookDeliveryAttempt.id)))).scalar_one())


@pytest.mark.parametrize("outcomes", [(OK, OK), (OK, DOWN)], ids=["all_succeeded", "mixed"])
async def test_a_record_re_run_after_its_commit_logs_each_attempt_once(
    context: AppContext, tenant: Tenant, outcomes: tuple[AttemptResult, ...]
) -> None:
    clock = frozen(context)
    await create_webhook(tenant, "https://hooks.example.com/in")
    calendar = await create_calendar(tenant)
    for _ in outcomes:
        await enqueue(context, calendar["id"])
    jobs = await claim(context, len(outcomes))
    attempts = [claims.Attempted(job, result, clock.now) for job, result in zip(jobs, outcomes, strict=True)]
    first = await record(context, attempts)
    expected = ["succeeded" if result.succeeded else "pending" for result in outcomes]
    assert first == expected
    assert await record(context, attempts) == expected  # the re-run: same statuses, nothing logged twice
    assert await logged(context) == len(outcomes)
    rows = await deliveries(context)
    assert [row.status for row in rows] == expected
    assert all(row.attempts == 1 and row.lease_owner is None for row in rows)
    async with context.db.read() as session:
        webhook = (await session.execute(select(WebhookSubscription))).scalar_one()
    assert (webhook.consecutive_failures == 0) is all(result.succeeded for result in outcomes)


async def test_a_success_whose_lease_was_lost_is_logged_but_leaves_the_row_to_its_new_owner(
    context: AppContext, tenant: Tenant
) -> None:
    clock = frozen(context)
    await create_webhook(tenant, "https://hooks.example.com/in")
    calendar = await create_calendar(tenant)
    await enqueue(context, calendar["id"])
    await enqueue(context, calendar["id"])
    jobs = await claim(context, 2)
    async with context.db.write() as session:  # the first row's lease expired and another worker took it
        await session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == jobs[0].delivery_id).values(lease_owner="worker-b")
        )
    assert await record(context, [claims.Attempted(job, OK, clock.now) for job in jobs]) == [None, "succeeded"]
    assert await logged(context) == 2
    first, second = await deliveries(context)
    assert (first.status, first.lease_owner, first.attempts) == ("delivering", "worker-b", 0)
    assert (second.status, second.delivered_at, second.attempts) == ("succeeded", clock.now, 1)


async def test_a_claim_fills_each_webhook_to_its_room_and_says_when_nothing_is_left(
    context: AppContext, tenant: Tenant
) -> None:
    frozen(context)
    await create_webhook(tenant, "https://hooks.example.com/busy")
    calendar = await create_calendar(tenant)
    for _ in range(5):
        await enqueue(context, calendar["id"])
    async with context.db.read() as session:
        webhook_id = (await session.execute(select(WebhookSubscription.id))).scalar_one()

    async def claim_with(in_flight: dict[int, int], failing: frozenset[int] = frozenset()) -> claims.Claim:
        async with context.db.write() as session:
            return await claims.claim_due(
                session,
                context.secrets,
                owner=OWNER,
                now=context.clock(),
                lease=timedelta(minutes=5),
                limit=64,
                concurrency=claims.Concurrency(4, 1, in_flight, failing),
                full=[],
            )

    # Room for four of five: four taken, and a second read in the same claim finds the fifth left for later (the
    # worker claims again as sends end), so no claim right after could take anything.
    first = await claim_with({})
    assert (len(first.jobs), first.deferred, first.exhausted) == (4, 1, True)
    # No room: nothing taken, the row left for later.
    second = await claim_with({webhook_id: 4})
    assert (len(second.jobs), second.deferred, second.exhausted) == (0, 1, True)
    # A webhook this worker saw fail gets one slot.
    third = await claim_with({}, frozenset({webhook_id}))
    assert (len(third.jobs), third.deferred, third.exhausted) == (1, 0, True)
    assert third.jobs[0].struggling and not any(job.struggling for job in first.jobs)
    assert {job.delivery_id for job in first.jobs + third.jobs} == {row.id for row in await deliveries(context)}


async def claim_one(context: AppContext, calendar_id: str) -> claims.Job:
    await enqueue(context, calendar_id)
    [job] = await claim(context, 1)
    return job


async def record_success(context: AppContext, job: claims.Job) -> str | None:
    [status] = await record(context, [claims.Attempted(job, OK, context.clock())])
    return status


async def claim_and_record_one_success(context: AppContext, calendar_id: str) -> str | None:
    return await record_success(context, await claim_one(context, calendar_id))


async def a_webhooks_calendar(tenant: Tenant) -> str:
    await create_webhook(tenant, "https://hooks.example.com/in")
    return str((await create_calendar(tenant))["id"])


async def webhook_health(context: AppContext) -> tuple[int, object]:
    async with context.db.read() as session:
        webhook = (await session.execute(select(WebhookSubscription))).scalar_one()
    return webhook.consecutive_failures, webhook.last_success_at


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_record_of_successes_waits_for_no_webhook_row_another_transaction_holds(
    context: AppContext, tenant: Tenant
) -> None:
    clock = frozen(context)
    calendar_id = await a_webhooks_calendar(tenant)
    async with context.db.write() as session:  # in a failure streak, so a success would write its health
        await session.execute(update(WebhookSubscription).values(consecutive_failures=2))
    job = await claim_one(context, calendar_id)
    async with context.db.write() as holder:
        # Another transaction (another worker's record of a failure) holds the webhook's row.
        await holder.execute(select(WebhookSubscription.id).with_for_update(key_share=True))
        async with asyncio.timeout(10):
            assert await record_success(context, job) == "succeeded"
    assert await webhook_health(context) == (2, None)  # left to the holder; the next batch writes it
    assert await claim_and_record_one_success(context, calendar_id) == "succeeded"
    assert await webhook_health(context) == (0, clock.now)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_healthy_webhooks_last_success_is_rewritten_only_once_it_is_stale(
    context: AppContext, tenant: Tenant
) -> None:
    clock = frozen(context)
    calendar_id = await a_webhooks_calendar(tenant)
    first = clock.now
    await claim_and_record_one_success(context, calendar_id)
    assert await webhook_health(context) == (0, first)
    clock.advance(seconds=bulk_postgres.LAST_SUCCESS_REFRESH.total_seconds() / 2)
    await claim_and_record_one_success(context, calendar_id)
    assert await webhook_health(context) == (0, first)  # fresh enough: its row is not rewritten
    clock.advance(seconds=bulk_postgres.LAST_SUCCESS_REFRESH.total_seconds())
    await claim_and_record_one_success(context, calendar_id)
    assert await webhook_health(context) == (0, clock.now)
