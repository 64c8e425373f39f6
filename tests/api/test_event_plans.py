"""GET /api/v1/calendar_events returns the same pages whichever plan reads them.

On SQLite `list_events` probes the filtered ranges and either reads the smallest through its index and sorts it
(`ORDER BY +column`) or walks the ordering index (SQLITE_SORT_CAP decides), for at most SQLITE_WALK_ROWS rows
(a bounded walk, `(column, id) <= ` the key that many rows on) before it counts again and sorts a range under
SQLITE_FALLBACK_SORT_CAP or walks on, unbounded. Every plan is forced by setting the three limits (PLANS) and
must give identical pages, in the same order, forwards and backwards. On PostgreSQL the limits have no effect;
the same assertions pin the shared semantics there."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from calsync.context import AppContext
from calsync.store.queries import event_plan
from tests.api.test_calendar_events import new_calendar
from tests.support.factories import insert_events
from tests.support.service import Tenant

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
STAMP = datetime(2026, 2, 1, tzinfo=UTC)
PAGE = 100


def at(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


# Every case has a range on another column than the one it orders by (the choice the probe makes), and that
# range is the smallest, so a huge cap sorts it.
CASES: list[dict[str, str]] = [
    {"updated_at_gte": at(STAMP + timedelta(hours=2)), "ordering": "start_time"},
    {"updated_at_gte": at(STAMP + timedelta(hours=1)), "ordering": "-end_time"},
    {"start_time_lte": at(T0 + timedelta(hours=200)), "ordering": "created_at"},
    {"start_time_gte": at(T0 + timedelta(hours=30)), "end_time_lte": at(T0 + timedelta(hours=200))},
    {"start_time_gte": at(T0 + timedelta(hours=30)), "end_time_lte": at(T0 + timedelta(hours=200)), "ordering": "-created_at"},
    {"end_time_gte": at(T0 + timedelta(hours=100)), "ordering": "-created_at"},
    {"updated_at_gte": at(STAMP + timedelta(hours=1)), "is_deleted": "false", "ordering": "-start_time"},
    {"updated_at_gte": at(STAMP + timedelta(hours=2)), "start_time_lte": at(T0 + timedelta(hours=200)), "ordering": "start_time"},
    {"calendar_deduplication_key": "b", "updated_at_gte": at(STAMP + timedelta(hours=1)), "ordering": "-start_time"},
]  # fmt: skip


async def seed(tenant: Tenant, context: AppContext) -> dict[str, str]:
    """Two calendars, 400 events: three write batches (so updated_at and created_at have ties, broken by id),
    overlapping start times (ties on start_time too), every third one deleted."""
    first = await new_calendar(tenant, "a")
    second = await new_calendar(tenant, "b")
    await insert_events(context, first, 150, start=T0, stamp=STAMP, deleted_every=3)
    await insert_events(context, second, 120, start=T0 + timedelta(hours=20), stamp=STAMP + timedelta(hours=1))
    await insert_events(context, first, 130, start=T0 + timedelta(hours=40), stamp=STAMP + timedelta(hours=2))
    return {"a": first, "b": second}


async def walk_both_ways(tenant: Tenant, params: dict[str, str]) -> tuple[list[list[str]], list[list[str]]]:
    """Every page following `next` links, then every page following `previous` links back from the last."""
    forward: list[list[str]] = []
    response = await tenant.client.get("/api/v1/calendar_events", params=params)
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        forward.append([row["id"] for row in page["results"]])
        if not page["next"]:
            break
        assert len(page["results"]) == PAGE
        response = await tenant.client.get(page["next"])
    backward: list[list[str]] = []
    while page["previous"]:
        response = await tenant.client.get(page["previous"])
        assert response.status_code == 200, response.text
        page = response.json()
        backward.append([row["id"] for row in page["results"]])
    return forward, backward


@contextmanager
def captured_sql(context: AppContext) -> Iterator[list[str]]:
    statements: list[str] = []

    def capture(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    engine = context.db.read_engine.sync_engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", capture)


# (SQLITE_SORT_CAP, SQLITE_WALK_ROWS, SQLITE_FALLBACK_SORT_CAP) forcing each plan, or a mix of them per page.
HUGE = 10**9
PLANS: dict[str, tuple[int, int, int]] = {
    "sort": (HUGE, HUGE, HUGE),
    "walk": (0, HUGE, 0),  # no key SQLITE_WALK_ROWS on: the walk is unbounded from the start
    "bounded walk, then walk on": (0, 1, 0),  # one row never holds a page
    "bounded walk, then sort": (0, 1, HUGE),
    "bounded walk found the page or not": (0, 150, 0),  # a dense filter's page within 150 rows, a sparse one's not
    "bounded walk found the page or sort": (0, 150, HUGE),
}


def plan_of(statements: list[str], column: str) -> set[str]:
    """What the SQLite page statements of a walk through the pages did: sorted a range, walked bounded (up to
    and including a key: `<=` or `>=`), walked unbounded."""
    done: set[str] = set()
    for statement in statements:
        if "calendar_events.raw" not in statement:
            continue  # a probe, or the read of the key SQLITE_WALK_ROWS on
        if any(f"(calendar_events.{column}, calendar_events.id) {op}" in statement for op in ("<=", ">=")):
            done.add("bounded")
        elif f"(+ calendar_events.{column})" in statement and "ORDER BY" in statement:
            done.add("sort")
        elif f"ORDER BY calendar_events.{column}" in statement and "calendar_events.raw" in statement:
            done.add("walk")
    return done


@pytest.mark.parametrize("params", CASES, ids=[",".join(f"{k}" for k in c) + f":{c.get('ordering')}" for c in CASES])
async def test_pages_are_the_same_whichever_plan(
    tenant: Tenant, context: AppContext, monkeypatch: pytest.MonkeyPatch, params: dict[str, str]
) -> None:
    calendars = await seed(tenant, context)
    ordering = params.get("ordering", "-updated_at")
    column = ordering.lstrip("-")
    results: dict[str, tuple[list[list[str]], list[list[str]]]] = {}
    for plan, (sort_cap, walk_rows, fallback_cap) in PLANS.items():
        monkeypatch.setattr(event_plan, "SQLITE_SORT_CAP", sort_cap)
        monkeypatch.setattr(event_plan, "SQLITE_WALK_ROWS", walk_rows)
        monkeypatch.setattr(event_plan, "SQLITE_FALLBACK_SORT_CAP", fallback_cap)
        with captured_sql(context) as statements:
            results[plan] = await walk_both_ways(tenant, params)
        if context.db.is_sqlite:
            expected_plans = {
                "sort": {"sort"},
                "walk": {"walk"},
                "bounded walk, then walk on": {"bounded", "walk"},
                "bounded walk, then sort": {"bounded", "sort"},
            }.get(plan)
            done = plan_of(statements, column)
            if expected_plans is not None:
                assert done == expected_plans, (plan, done)
            else:
                # (A calendar's 120 events may hold fewer than 150 rows: no key that far, an unbounded walk.)
                assert done <= ({"bounded", "sort", "walk"} if fallback_cap == HUGE else {"bounded", "walk"}), done
    for plan, pages in results.items():
        assert pages == results["sort"], plan
    forward, backward = results["sort"]
    assert sum(len(page) for page in forward) > PAGE, "the case spans pages"
    assert list(reversed(backward)) == forward[:-1], "previous links give back the same pages"

    # The rows are the ones the filters admit, in (column, id) order.
    everything = {row["id"]: row for row in await all_events(tenant)}
    rows = [everything[event_id] for page in forward for event_id in page]
    keys = [row[column] for row in rows]
    assert keys == sorted(keys, reverse=ordering.startswith("-"))
    expected = {event_id for event_id, row in everything.items() if admitted(row, params, calendars)}
    assert {row["id"] for row in rows} == expected


async def test_a_bounded_walk_that_finds_the_page_is_the_page(
    tenant: Tenant, context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bounded walk's success path: a dense filter's first page within 150 rows, read by that walk alone."""
    await seed(tenant, context)
    params = {"updated_at_gte": at(STAMP), "ordering": "start_time"}  # every event matches
    monkeypatch.setattr(event_plan, "SQLITE_SORT_CAP", 0)
    monkeypatch.setattr(event_plan, "SQLITE_WALK_ROWS", 150)
    with captured_sql(context) as statements:
        response = await tenant.client.get("/api/v1/calendar_events", params=params)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next"] and len(page["results"]) == PAGE
    if context.db.is_sqlite:
        assert plan_of(statements, "start_time") == {"bounded"}
    monkeypatch.setattr(event_plan, "SQLITE_WALK_ROWS", HUGE)
    assert (await tenant.client.get("/api/v1/calendar_events", params=params)).json() == page


async def all_events(tenant: Tenant) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    response = await tenant.client.get("/api/v1/calendar_events")
    while True:
        page = response.json()
        rows.extend(page["results"])
        if not page["next"]:
            return rows
        response = await tenant.client.get(page["next"])


def admitted(row: dict[str, Any], params: dict[str, str], calendars: dict[str, str]) -> bool:
    def time(value: str) -> datetime:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))

    checks = {
        "updated_at_gte": lambda v: time(row["updated_at"]) >= time(v),
        "start_time_gte": lambda v: time(row["start_time"]) >= time(v),
        "start_time_lte": lambda v: time(row["start_time"]) <= time(v),
        "end_time_gte": lambda v: time(row["end_time"]) >= time(v),
        "end_time_lte": lambda v: time(row["end_time"]) <= time(v),
        "is_deleted": lambda v: row["is_deleted"] == (v == "true"),
        "calendar_deduplication_key": lambda v: row["calendar_id"] == calendars[v],
        "ordering": lambda v: True,
    }
    return all(checks[key](value) for key, value in params.items())
