"""The events listing's one-statement page (calsync.store.queries.api_page, PostgreSQL) answers byte for byte what
the general reader and `event_json` answer, for every request it takes; and it is the one taking them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.engine import make_url

from calsync.context import AppContext
from calsync.store.models import CalendarEvent
from calsync.store.queries import api_page
from tests.api.test_calendar_events import new_calendar
from tests.support.factories import insert_events
from tests.support.service import Tenant

# Every character class the two encoders could write differently: quotes, backslash, control characters,
# non-ASCII, line separators, an astral character.
ODD_TEXT = 'a "quoted" \\ back\tslash\n\x01\x1f\x7f é € \u2028 \u2029 😀 </script>'


async def pages(client: httpx.AsyncClient, params: dict[str, str]) -> list[bytes]:
    """The bodies of every page forward from the first, then of the first page again, walked backwards."""
    bodies = []
    response = await client.get("/api/v1/calendar_events", params=params)
    for _ in range(20):
        assert response.status_code == 200, response.text
        bodies.append(response.content)
        page = response.json()
        if not page["next"]:
            break
        response = await client.get(page["next"])
    page = response.json()
    while page["previous"]:
        response = await client.get(page["previous"])
        assert response.status_code == 200, response.text
        bodies.append(response.content)
        page = response.json()
    return bodies


async def test_pages_match_the_general_reader(
    tenant: Tenant, context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    first = await new_calendar(tenant, "first")
    second = await new_calendar(tenant, "second")
    first_ids = await insert_events(context, first, 130, start=start, step=timedelta(minutes=20), deleted_every=7)
    await insert_events(context, second, 30, start=start + timedelta(minutes=7))
    async with context.db.write() as session:
        await session.execute(
            update(CalendarEvent)
            .where(CalendarEvent.object_id.in_(first_ids[:3]))
            .values(
                name=ODD_TEXT,
                location=ODD_TEXT,
                time_zone=None,
                is_all_day=True,
                meeting_url="https://meet.google.com/abc-defg-hij",
                attendees=[{"email": "x@example.com", "displayName": ODD_TEXT, "n": 1.5, "ok": True}],
                organizer=None,
                raw={"nested": {"list": [1, None, ODD_TEXT]}, "empty": {}},
            )
        )
    bot = await tenant.client.post("/api/v1/bots", json={"calendar_event_id": first_ids[1]})
    assert bot.status_code == 201, bot.text
    window = {
        "start_time_gte": (start + timedelta(hours=5)).isoformat(),
        "end_time_lte": (start + timedelta(hours=30)).isoformat(),
    }
    requests: list[dict[str, str]] = [
        {},
        {"calendar_id": first},
        {"calendar_deduplication_key": "second"},
        {"calendar_id": first, "calendar_deduplication_key": "first"},
        {"calendar_id": "cal_unknown"},
        window,
        {**window, "calendar_id": first},
        {"is_deleted": "false", "include_raw": "false"},
        {"event_id": first_ids[1]},
        {"ordering": "start_time"},
        {"ordering": "-end_time", "start_time_gte": start.isoformat()},
        {"ordering": "created_at", "calendar_id": second},
        {"updated_at_gte": "2000-01-01T00:00:00Z"},
        # Not one walk (the events running at the bound, then the ones starting after it): the general reader's.
        {"ordering": "start_time", "end_time_gte": (start + timedelta(hours=3)).isoformat()},
    ]
    one_statement = 0
    read_page = api_page.read_page

    async def counted(*args: Any, **kwargs: Any) -> api_page.ProjectedPage:
        nonlocal one_statement
        one_statement += 1
        return await read_page(*args, **kwargs)

    monkeypatch.setattr(api_page, "read_page", counted)
    fast = [await pages(tenant.client, params) for params in requests]
    taken = one_statement
    monkeypatch.setattr(api_page, "plain_walk", lambda *args: None)
    general = [await pages(tenant.client, params) for params in requests]
    assert one_statement == taken
    for params, fast_bodies, general_bodies in zip(requests, fast, general, strict=True):
        assert fast_bodies == general_bodies, params
    assert b'"bots":[{' in b"".join(fast[0]), "a page with a bot was compared"
    general_only = [bodies for params, bodies in zip(requests, fast, strict=True) if "end_time_gte" in params]
    expected = 0 if context.db.is_sqlite else sum(map(len, fast)) - sum(map(len, general_only))
    assert taken == expected, "the one-statement page reads every plain walk on PostgreSQL, and only those"


async def test_a_page_whose_pooled_connection_was_terminated_is_answered(
    tenant: Tenant, context: AppContext, database_url: str
) -> None:
    if context.db.is_sqlite:
        pytest.skip("a PostgreSQL server ends the connection; SQLite has none")
    calendar = await new_calendar(tenant, "a")
    await insert_events(context, calendar, 3, start=datetime(2026, 3, 1, tzinfo=UTC))
    assert (await tenant.client.get("/api/v1/calendar_events")).status_code == 200  # the pool holds it now
    admin = await asyncpg.connect(make_url(database_url).set(drivername="postgresql").render_as_string(False))
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    for _ in range(2):  # answered on a fresh connection, and the dead one is not handed out again
        response = await tenant.client.get("/api/v1/calendar_events", params={"calendar_id": calendar})
        assert response.status_code == 200, response.text
        assert len(response.json()["results"]) == 3
