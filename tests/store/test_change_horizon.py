"""The change horizon (calsync.store.change_horizon) on PostgreSQL: a writer that stamped and numbered its rows and
holds its transaction open keeps every reader by stamp or number below it, while a later writer of the same
project commits without waiting for it; once the slow writer commits, a poller from the newest stamp it saw and the
meetings scan both find its rows. Nothing is missed, whichever commits first."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text

from calsync.context import AppContext
from calsync.meetings.evaluate import scan_batch
from calsync.providers.base import NormalizedEvent
from calsync.store import change_horizon
from calsync.store.models import Calendar, CalendarEvent, MeetingScanCursor
from calsync.sync.apply import apply_page
from tests.api.seed import SEED_REQUEST
from tests.support.service import Tenant
from tests.sync.test_concurrency_faults import postgres_only

BASE = datetime(2026, 6, 1, tzinfo=UTC)


def event(uuid: str) -> NormalizedEvent:
    return NormalizedEvent(
        platform_uuid=uuid,
        is_deleted=False,
        start_time=BASE,
        end_time=BASE + timedelta(minutes=30),
        name=uuid,
        meeting_url=f"https://meet.google.com/{uuid}",
        meeting_platform="google_meet",
    )


async def new_calendar(context: AppContext, tenant: Tenant, key: str) -> int:
    created = await tenant.client.post("/api/v1/calendars", json={**SEED_REQUEST, "deduplication_key": key})
    assert created.status_code == 201, created.text
    async with context.db.read() as session:
        found = select(Calendar.id).where(Calendar.object_id == created.json()["id"])
        return (await session.execute(found)).scalar_one()


async def write(
    context: AppContext, calendar_pk: int, uuid: str, held: tuple[asyncio.Event, asyncio.Event] | None = None
) -> None:
    """A sync page of one event; with `held`, the transaction sets the first event once its rows are stamped and
    written, and waits for the second before it commits (a slow batch)."""
    async with context.db.write() as session:
        calendar = await session.get(Calendar, calendar_pk)
        assert calendar is not None
        await apply_page(session, calendar, [event(uuid)], [], context.clock())
        if held is not None:
            stamped, release = held
            stamped.set()
            await release.wait()


async def poll(tenant: Tenant, since: str | None, ordering: str) -> list[dict[str, Any]]:
    params = {"ordering": ordering, "include_raw": "false", **({"updated_at_gte": since} if since else {})}
    response = await tenant.client.get("/api/v1/calendar_events", params=params)
    assert response.status_code == 200, response.text
    assert response.json()["next"] is None
    return response.json()["results"]


async def stored(context: AppContext, uuid: str) -> tuple[datetime, int]:
    async with context.db.read() as session:
        found = select(CalendarEvent.updated_at, CalendarEvent.change_seq).where(CalendarEvent.platform_uuid == uuid)
        return tuple((await session.execute(found)).one())  # type: ignore[return-value]


async def cursor_of(context: AppContext, project_id: int) -> int:
    async with context.db.read() as session:
        cursor = await session.get(MeetingScanCursor, project_id)
        return cursor.change_seq if cursor is not None else 0


async def scan_all(context: AppContext) -> None:
    while True:
        async with context.db.write() as session:
            result = await scan_batch(session, context.clock(), stand_down=timedelta(minutes=5), default_lead=120)
        if not result.meetings:
            return


async def test_a_slow_writer_holds_readers_below_it_not_other_writers(
    context: AppContext, tenant: Tenant, database_url: str
) -> None:
    postgres_only(database_url)
    slow_pk, fast_pk = [await new_calendar(context, tenant, key) for key in ("slow", "fast")]
    await write(context, fast_pk, "before")
    seen: dict[str, str] = {}
    newest: str | None = None
    for row in await poll(tenant, newest, "updated_at"):
        seen[row["id"]], newest = row["name"], row["updated_at"]
    assert list(seen.values()) == ["before"]
    await scan_all(context)

    stamped, release = asyncio.Event(), asyncio.Event()
    slow = asyncio.create_task(write(context, slow_pk, "slow", (stamped, release)))
    await stamped.wait()
    async with context.db.read() as session:
        held = await change_horizon.read(session)
    # A later writer of the same project commits while the slow one is still open: nothing waits for it.
    await asyncio.wait_for(write(context, fast_pk, "fast"), timeout=30)
    fast_stamp, fast_number = await stored(context, "fast")
    assert fast_stamp > held.stamp and fast_number > held.number

    # Readers stay below the slow writer: the poller does not see the fast row yet (it would pass the slow one),
    # and the scan does not move its cursor past the slow writer's number.
    for ordering in ("updated_at", "-updated_at", "start_time"):
        assert [row["name"] for row in await poll(tenant, newest, ordering)] == ["before"]
    await scan_all(context)
    cursor_while_held = await cursor_of(context, tenant.project_id)

    release.set()
    await slow
    slow_stamp, slow_number = await stored(context, "slow")
    assert held.stamp <= slow_stamp < fast_stamp and held.number <= slow_number < fast_number
    assert cursor_while_held < slow_number
    for row in await poll(tenant, newest, "updated_at"):
        seen[row["id"]] = row["name"]
    assert sorted(seen.values()) == ["before", "fast", "slow"]
    await scan_all(context)
    assert await cursor_of(context, tenant.project_id) >= fast_number


async def test_a_writer_that_rolls_back_releases_the_horizon(
    context: AppContext, tenant: Tenant, database_url: str
) -> None:
    postgres_only(database_url)
    calendar_pk = await new_calendar(context, tenant, "rolled-back")
    taken = asyncio.Event()
    task = asyncio.create_task(write(context, calendar_pk, "abandoned", (taken, asyncio.Event())))
    await taken.wait()
    async with context.db.read() as session:
        held = await change_horizon.read(session)
    task.cancel()  # a sync cancelled mid-transaction (a worker stopping): rolled back
    with contextlib.suppress(asyncio.CancelledError):
        await task
    async with context.db.read() as session:
        after = await change_horizon.read(session)
        abandoned = select(CalendarEvent.id).where(CalendarEvent.platform_uuid == "abandoned")
        assert (await session.execute(abandoned)).first() is None
    assert after.stamp > held.stamp and after.number > held.number


async def test_a_registered_writer_is_bounded_in_idle_time_and_only_for_its_own_transaction(
    context: AppContext, database_url: str
) -> None:
    """A writer whose client stops answering would hold every horizon back: PostgreSQL ends it after the limit, set
    for the writer's transaction alone (a pooled connection keeps the server's default afterwards)."""
    postgres_only(database_url)
    show = text("SHOW idle_in_transaction_session_timeout")
    async with context.db.write() as session:
        default = (await session.execute(show)).scalar_one()
        await change_horizon.register(session, 1)
        assert (await session.execute(show)).scalar_one() == f"{change_horizon.WRITER_IDLE_LIMIT_MS // 1000}s"
    async with context.db.read() as session:
        assert (await session.execute(show)).scalar_one() == default
