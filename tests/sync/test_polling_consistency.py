"""A client polling `updated_at_gte=<newest updated_at it has seen>` never misses a change, even while several
writers commit concurrently with transactions that stay open a while (Attendee's race, weakness 18)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from calsync.context import AppContext
from calsync.providers.base import NormalizedEvent
from calsync.store.models import Calendar, CalendarEvent
from calsync.sync.apply import apply_page
from tests.api.seed import SEED_REQUEST
from tests.support.service import Tenant

BASE = datetime(2026, 6, 1, tzinfo=UTC)


def event(uuid: str, version: int) -> NormalizedEvent:
    return NormalizedEvent(
        platform_uuid=uuid,
        is_deleted=False,
        start_time=BASE + timedelta(hours=version),
        end_time=BASE + timedelta(hours=version, minutes=30),
        name=f"{uuid} v{version}",
    )


async def writer(context: AppContext, calendar_pk: int, name: str, rng: random.Random) -> None:
    for version in range(12):
        uuids = [f"{name}-{i}" for i in rng.sample(range(8), 3)]
        async with context.db.write() as session:
            calendar = await session.get(Calendar, calendar_pk)
            assert calendar is not None
            await apply_page(session, calendar, [event(u, version) for u in uuids], [], context.clock())
            # Keep the transaction open after stamping, as a slow batch would: the window where a later
            # stamp could commit first if stamps were not ordered by commit.
            await asyncio.sleep(rng.uniform(0, 0.03))
        await asyncio.sleep(rng.uniform(0, 0.01))


async def poll(tenant: Tenant, since: str | None) -> list[dict[str, Any]]:
    params = {"ordering": "updated_at", "include_raw": "false"}
    if since:
        params["updated_at_gte"] = since
    rows: list[dict[str, Any]] = []
    response = await tenant.client.get("/api/v1/calendar_events", params=params)
    for _ in range(100):
        page = response.json()
        rows.extend(page["results"])
        if not page["next"]:
            return rows
        response = await tenant.client.get(page["next"])
    raise AssertionError("pagination did not end")


async def test_updated_at_polling_never_misses_a_committed_change(context: AppContext, tenant: Tenant) -> None:
    calendar_pks = []
    for index in range(4):
        created = await tenant.client.post(
            "/api/v1/calendars", json={**SEED_REQUEST, "deduplication_key": f"poll-{index}"}
        )
        async with context.db.read() as session:
            calendar_pks.append(
                (
                    await session.execute(select(Calendar.id).where(Calendar.object_id == created.json()["id"]))
                ).scalar_one()
            )
    seen: dict[str, str] = {}  # evt id -> newest name observed
    newest: str | None = None
    writers = asyncio.gather(*(writer(context, pk, f"w{i}", random.Random(i)) for i, pk in enumerate(calendar_pks)))
    while not writers.done():
        for row in await poll(tenant, newest):
            seen[row["id"]] = row["name"]
            newest = max(newest or row["updated_at"], row["updated_at"])
        await asyncio.sleep(0.005)
    await writers
    for row in await poll(tenant, newest):
        seen[row["id"]] = row["name"]
    async with context.db.read() as session:
        final = {row.object_id: row.name for row in (await session.execute(select(CalendarEvent))).scalars()}
    assert final, "the writers wrote"
    missed = {k: v for k, v in final.items() if seen.get(k) != v}
    assert missed == {}, f"the poller missed the final version of {len(missed)} rows"
