"""`enqueue_calendar_webhook`: one row per matching active subscription, in the caller's transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from calsync.context import AppContext
from calsync.store.models import Calendar
from calsync.webhooks.outbox import enqueue_calendar_webhook
from calsync.webhooks.payloads import CalendarSnapshot, state_change_data
from tests.support.service import Tenant
from tests.webhooks.support import create_calendar, create_webhook, deliveries, enqueue, frozen, sample_data


class Boom(Exception):
    pass


async def test_rows_commit_and_roll_back_with_the_change(context: AppContext, tenant: Tenant) -> None:
    frozen(context)
    await create_webhook(tenant, "https://a.example.com/")
    calendar = await create_calendar(tenant)
    with pytest.raises(Boom):
        async with context.db.write() as session:
            row = (await session.execute(select(Calendar).where(Calendar.object_id == calendar["id"]))).scalar_one()
            row.state = "disconnected"  # the change being reported
            queued = await enqueue_calendar_webhook(
                session,
                calendar=row,
                trigger="calendar.state_change",
                data=state_change_data(CalendarSnapshot(state="disconnected"), "connected"),
                now=context.clock(),
            )
            assert queued == 1
            raise Boom  # the sync failed after queueing: neither the change nor the webhook may survive
    assert await deliveries(context) == []
    assert (await tenant.client.get(f"/api/v1/calendars/{calendar['id']}")).json()["state"] == "connected"


async def test_one_row_per_active_subscription_wanting_the_trigger(context: AppContext, tenant: Tenant) -> None:
    clock = frozen(context)
    both = await create_webhook(tenant, "https://both.example.com/")
    state_only = await create_webhook(tenant, "https://state.example.com/", triggers=["calendar.state_change"])
    await create_webhook(tenant, "https://off.example.com/", is_active=False)
    calendar = await create_calendar(tenant)
    assert await enqueue(context, calendar["id"]) == 1
    assert await enqueue(context, calendar["id"], trigger="calendar.state_change") == 2
    rows = await deliveries(context)
    by_trigger = sorted((r.trigger, r.subscription_id) for r in rows)
    assert len(by_trigger) == 3
    assert {r.status for r in rows} == {"pending"} and {r.next_attempt_at for r in rows} == {clock.now}
    assert len({r.idempotency_key for r in rows}) == 3
    assert all(r.calendar_object_id == calendar["id"] and r.data for r in rows)
    assert both["id"] != state_only["id"]


async def test_no_subscriptions_no_rows_and_unknown_trigger_refused(context: AppContext, tenant: Tenant) -> None:
    calendar = await create_calendar(tenant)
    assert await enqueue(context, calendar["id"]) == 0
    with pytest.raises(ValueError, match="unknown trigger"):
        async with context.db.write() as session:
            row = (await session.execute(select(Calendar).where(Calendar.object_id == calendar["id"]))).scalar_one()
            await enqueue_calendar_webhook(
                session, calendar=row, trigger="calendar.created", data=sample_data(), now=context.clock()
            )
