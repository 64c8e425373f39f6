"""GET /api/v1/calendar_events: filters, orderings, errors and pagination stability."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from calsync.context import AppContext
from calsync.store.models import CalendarEvent
from tests.api.seed import SEED_REQUEST
from tests.api.test_calendars_manage import walk
from tests.support.factories import insert_events
from tests.support.service import Tenant

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


async def new_calendar(tenant: Tenant, key: str) -> str:
    body = {**SEED_REQUEST, "deduplication_key": key}
    response = await tenant.client.post("/api/v1/calendars", json=body)
    assert response.status_code == 201
    calendar_id: str = response.json()["id"]
    return calendar_id


async def events(tenant: Tenant, **params: Any) -> list[dict[str, Any]]:
    return await walk(tenant.client, "/api/v1/calendar_events", {k: str(v) for k, v in params.items()})


async def test_event_shape(tenant: Tenant, context: AppContext) -> None:
    calendar_id = await new_calendar(tenant, "a")
    [event_id] = await insert_events(context, calendar_id, 1, start=T0)
    [event] = await events(tenant)
    assert list(event)[:14] == [
        "id", "calendar_id", "platform_uuid", "meeting_url", "start_time", "end_time", "is_deleted",
        "attendees", "ical_uid", "name", "raw", "bots", "created_at", "updated_at",
    ]  # fmt: skip
    assert event["id"] == event_id and event["calendar_id"] == calendar_id
    assert event["start_time"] == "2026-03-01T09:00:00.000000Z"
    single = await tenant.client.get(f"/api/v1/calendar_events/{event_id}")
    assert single.status_code == 200 and single.json() == event
    missing = await tenant.client.get("/api/v1/calendar_events/evt_nope")
    assert missing.status_code == 404 and missing.json()["error"] == "Calendar event not found"
    without_raw = (await tenant.client.get("/api/v1/calendar_events", params={"include_raw": "false"})).json()
    assert without_raw["results"][0]["raw"] is None


async def test_filters(tenant: Tenant, context: AppContext) -> None:
    first = await new_calendar(tenant, "first")
    second = await new_calendar(tenant, "second")
    first_ids = await insert_events(context, first, 5, start=T0, deleted_every=2)
    second_ids = await insert_events(context, second, 3, start=T0 + timedelta(days=1))

    def ids(rows: list[dict[str, Any]]) -> set[str]:
        return {row["id"] for row in rows}

    assert ids(await events(tenant)) == set(first_ids + second_ids)
    assert ids(await events(tenant, calendar_id=first)) == set(first_ids)
    assert ids(await events(tenant, calendar_deduplication_key="second")) == set(second_ids)
    assert await events(tenant, calendar_id="cal_unknown") == []
    assert ids(await events(tenant, event_id=second_ids[1])) == {second_ids[1]}
    assert ids(await events(tenant, start_time_gte="2026-03-02T00:00:00Z")) == set(second_ids)
    assert ids(await events(tenant, end_time_lte="2026-03-01T10:30:00Z")) == set(first_ids[:2])
    assert ids(await events(tenant, start_time_lte="2026-03-01T09:00:00Z")) == {first_ids[0]}
    assert ids(await events(tenant, end_time_gte="2026-03-02T11:00:00Z")) == set(second_ids[2:])
    assert ids(await events(tenant, is_deleted="true")) == {first_ids[0], first_ids[2], first_ids[4]}
    assert len(await events(tenant, is_deleted="false")) == 5
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert await events(tenant, updated_at_gte=future) == []
    assert await events(tenant, updated_after=future) == [], "the deprecated alias is honoured"
    assert len(await events(tenant, updated_at_gte="2000-01-01T00:00:00+00:00")) == 8


@pytest.mark.parametrize(
    ("param", "example"),
    [
        ("updated_at_gte", "2025-01-13T10:30:00Z"),
        ("start_time_gte", "2025-01-13T10:30:00Z"),
        ("end_time_lte", "2025-01-13T18:00:00Z"),
    ],
)
@pytest.mark.parametrize("value", ["yesterday", "2025-01-13", "2025-13-45T10:00:00Z", ""])
async def test_invalid_dates(tenant: Tenant, param: str, example: str, value: str) -> None:
    if value == "" and param == "updated_at_gte":
        pytest.skip("an empty updated_at_gte falls back to updated_after, as in Attendee")
    response = await tenant.client.get("/api/v1/calendar_events", params={param: value})
    assert response.status_code == 400
    assert response.json()["error"] == f"Invalid {param} format. Use ISO 8601 format (e.g., {example})"


async def test_alias_error_names_new_parameter(tenant: Tenant) -> None:
    response = await tenant.client.get("/api/v1/calendar_events", params={"updated_after": "nope"})
    assert response.status_code == 400 and "updated_at_gte" in response.json()["error"]


async def test_invalid_ordering(tenant: Tenant) -> None:
    response = await tenant.client.get("/api/v1/calendar_events", params={"ordering": "name"})
    assert response.status_code == 400
    assert response.json()["error"] == (
        "Invalid ordering. Allowed values: -updated_at, updated_at, start_time, -start_time, end_time, -end_time, "
        "created_at, -created_at"
    )


async def test_orderings(tenant: Tenant, context: AppContext) -> None:
    calendar_id = await new_calendar(tenant, "o")
    # Inserted in three writes so updated_at differs; start times run the other way.
    older = await insert_events(context, calendar_id, 2, start=T0 + timedelta(days=5), stamp=T0)
    newer = await insert_events(context, calendar_id, 2, start=T0, stamp=T0 + timedelta(hours=1))
    default = [row["id"] for row in await events(tenant)]
    assert set(default[:2]) == set(newer) and set(default[2:]) == set(older), "default is -updated_at"
    by_start = [row["id"] for row in await events(tenant, ordering="start_time")]
    assert by_start == newer + older
    assert [row["id"] for row in await events(tenant, ordering="-start_time")] == list(reversed(by_start))
    by_end = [row["id"] for row in await events(tenant, ordering="end_time")]
    assert by_end == by_start
    assert [row["id"] for row in await events(tenant, ordering="-end_time")] == list(reversed(by_end))
    ascending = [row["id"] for row in await events(tenant, ordering="updated_at")]
    assert set(ascending[:2]) == set(older)
    created = [row["id"] for row in await events(tenant, ordering="created_at")]
    assert [row["id"] for row in await events(tenant, ordering="-created_at")] == list(reversed(created))


async def test_cursor_must_match_ordering(tenant: Tenant, context: AppContext) -> None:
    calendar_id = await new_calendar(tenant, "c")
    await insert_events(context, calendar_id, 150, start=T0)
    page = (await tenant.client.get("/api/v1/calendar_events", params={"ordering": "start_time"})).json()
    assert len(page["results"]) == 100 and page["next"]
    cursor = page["next"].split("cursor=")[1]
    other = await tenant.client.get("/api/v1/calendar_events", params={"ordering": "end_time", "cursor": cursor})
    assert other.status_code == 404 and other.json()["detail"] == "Invalid cursor"


@pytest.mark.parametrize("ordering", ["start_time", "-updated_at", "created_at"])
async def test_pagination_never_skips_or_repeats_under_concurrent_writes(
    tenant: Tenant, context: AppContext, ordering: str
) -> None:
    """Rows that exist before the walk and are not modified appear exactly once, while other rows are
    inserted (with equal sort values, the worst case for tie-breaking) and updated between pages."""
    calendar_id = await new_calendar(tenant, "p")
    original = await insert_events(context, calendar_id, 250, start=T0, step=timedelta(0))
    seen: list[str] = []
    response = await tenant.client.get("/api/v1/calendar_events", params={"ordering": ordering})
    for page_number in range(50):
        page = response.json()
        seen.extend(row["id"] for row in page["results"])
        # Writes land between pages: new rows, and rows touched that are not part of `original`.
        await asyncio.gather(
            insert_events(context, calendar_id, 7, start=T0, step=timedelta(0)),
            insert_events(context, calendar_id, 3, start=T0 - timedelta(days=1)),
        )
        async with context.db.write() as session:
            await session.execute(
                update(CalendarEvent)
                .where(CalendarEvent.object_id.not_in(original))
                .values(name=f"touched {page_number}")
            )
        if not page["next"]:
            break
        response = await tenant.client.get(page["next"])
    counts = {event_id: seen.count(event_id) for event_id in original}
    assert all(count == 1 for count in counts.values()), {k: v for k, v in counts.items() if v != 1}
    assert len(seen) == len(set(seen)), "no row repeats"
