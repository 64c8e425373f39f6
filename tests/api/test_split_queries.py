"""Filters correlated with the ordering are split at their bound (store/queries/event_plan.py): the events past the
bound along the ordering, read as a plain walk, and the rest, read through another index.

`split_at_running`: a bound on the other time column than the ordering's; the rest are the events running at the
bound, read by span class. The pages must be exactly the pages of one walk with the filter as given, forwards
and backwards, whatever the events' lengths: at every class limit, one second either side of it, zero-length,
longer than any limit, and rows whose class was left to the column's default.

`split_modified`: `updated_at_gte` ordered by created_at; the rest are the events created before the bound and
modified since, read through the updated_at index and sorted: a calendar's pages, unless more than
MODIFIED_SORT_CAP of its events were updated (then one walk). The project's pages are read by update-lag class
(`LagClasses`) instead."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from calsync.context import AppContext
from calsync.store.duration_classes import CLASS_LIMITS
from calsync.store.queries import event_plan
from tests.api.test_calendar_events import new_calendar
from tests.api.test_event_plans import PAGE, STAMP, T0, admitted, all_events, at, captured_sql, walk_both_ways
from tests.support.factories import insert_events, insert_spans, restamp
from tests.support.service import Tenant

POINT = T0 + timedelta(days=10)
SECOND = timedelta(seconds=1)
LATER = at(POINT + timedelta(minutes=7))


async def seed(tenant: Tenant, context: AppContext) -> dict[str, str]:
    first = await new_calendar(tenant, "a")
    second = await new_calendar(tenant, "b")
    # Dense 30-minute meetings every 20 minutes for two days either side of the point (so they overlap it).
    meetings = [(POINT + timedelta(minutes=20 * n), POINT + timedelta(minutes=20 * n + 30)) for n in range(-144, 144)]
    await insert_spans(context, first, meetings, stamp=STAMP, deleted_every=5)
    # 150 events of lengths from 8 minutes to 2 days, all on at the point: more than a page of running events.
    running = [(POINT - (k + 1) * timedelta(minutes=7), POINT + k * timedelta(minutes=13) + SECOND) for k in range(150)]
    await insert_spans(context, first, running, stamp=STAMP + timedelta(hours=3))
    edges = [(POINT, POINT), (POINT - SECOND, POINT), (POINT, POINT + SECOND)]
    for limit in CLASS_LIMITS:
        edges += [
            (POINT - limit, POINT),  # the longest of its class, ending exactly at the point
            (POINT - limit, POINT - SECOND),  # ... and one ending just before it
            (POINT - limit + SECOND, POINT + SECOND),
            (POINT - limit - SECOND, POINT),  # one second too long for the class: the next one's
            (POINT, POINT + limit),
        ]
    edges += [
        (POINT - timedelta(days=400), POINT + timedelta(days=400)),  # unbounded, running
        (POINT - timedelta(days=1100), POINT - timedelta(days=700)),  # unbounded, long over
        (POINT + timedelta(days=1), POINT + timedelta(days=500)),  # unbounded, not begun
    ]
    await insert_spans(context, second, edges, stamp=STAMP + timedelta(hours=1), deleted_every=7)
    unclassified = [(POINT - timedelta(days=5), POINT + timedelta(days=5)), (POINT - timedelta(hours=1), POINT)]
    await insert_spans(context, second, unclassified, stamp=STAMP + timedelta(hours=2), classify=False)
    return {"a": first, "b": second}


def case_ids(cases: list[dict[str, str]]) -> list[str]:
    return [",".join(sorted(case)) + ":" + case["ordering"] for case in cases]


CASES: list[dict[str, str]] = [
    {"end_time_gte": at(POINT), "ordering": "start_time"},
    {"end_time_gte": at(POINT), "ordering": "-start_time"},
    {"end_time_gte": LATER, "ordering": "start_time"},
    {"start_time_lte": at(POINT), "ordering": "end_time"},
    {"start_time_lte": at(POINT), "ordering": "-end_time"},
    {"start_time_lte": LATER, "ordering": "end_time"},
    {"end_time_gte": at(POINT), "start_time_lte": at(POINT + timedelta(days=1)), "ordering": "start_time"},
    {"end_time_gte": at(POINT), "start_time_gte": at(POINT - timedelta(hours=3)), "ordering": "-start_time"},
    {"end_time_gte": at(POINT), "end_time_lte": at(POINT + timedelta(days=1)), "is_deleted": "false", "ordering": "start_time"},
    {"start_time_lte": at(POINT), "end_time_gte": at(POINT - timedelta(days=1)), "calendar_deduplication_key": "b", "ordering": "-end_time"},
    {"end_time_gte": LATER, "updated_at_gte": at(STAMP + timedelta(hours=1)), "ordering": "start_time"},
    # The other bound excludes every running event: no span-class read.
    *(NONE_RUNNING := [
        {"end_time_gte": at(POINT), "start_time_gte": at(POINT + timedelta(hours=1)), "ordering": "start_time"},
        {"start_time_lte": at(POINT), "end_time_lte": at(POINT - timedelta(hours=1)), "ordering": "end_time"},
    ]),
]  # fmt: skip


@pytest.mark.parametrize("params", CASES, ids=case_ids(CASES))
async def test_split_pages_equal_one_walk(
    tenant: Tenant, context: AppContext, monkeypatch: pytest.MonkeyPatch, params: dict[str, str]
) -> None:
    calendars = await seed(tenant, context)
    with captured_sql(context) as statements:
        split = await walk_both_ways(tenant, params)
    running_read = any("UNION ALL" in statement for statement in statements)
    assert running_read == (params not in NONE_RUNNING), "the running events are read by span class"
    monkeypatch.setattr(event_plan, "split_at_running", lambda *_: None)
    assert split == await walk_both_ways(tenant, params), "the same pages as one walk"

    assert await pages_hold_the_matches(tenant, split, params, calendars), "the case matches something"


async def pages_hold_the_matches(
    tenant: Tenant, pages: tuple[list[list[str]], list[list[str]]], params: dict[str, str], calendars: dict[str, str]
) -> set[str]:
    """Asserts that the pages walked forwards hold every event the filters admit, once, in order, and that the
    pages walked back are the same; returns the admitted events."""
    forward, backward = pages
    assert list(reversed(backward)) == forward[:-1], "previous links give back the same pages"
    everything = {row["id"]: row for row in await all_events(tenant)}
    rows = [everything[event_id] for page in forward for event_id in page]
    column = params["ordering"].lstrip("-")
    keys = [row[column] for row in rows]
    assert keys == sorted(keys, reverse=params["ordering"].startswith("-"))
    expected = {event_id for event_id, row in everything.items() if admitted(row, params, calendars)}
    assert [row["id"] for row in rows if row["id"] in expected] == [row["id"] for row in rows], "only matches"
    assert {row["id"] for row in rows} == expected and len(rows) == len(expected), "every match, once"
    return expected


async def test_split_spans_pages(tenant: Tenant, context: AppContext) -> None:
    """The running events fill more than one page here, and the page boundary falls between the two parts."""
    await seed(tenant, context)
    forward, _ = await walk_both_ways(tenant, {"end_time_gte": at(POINT), "ordering": "start_time"})
    starts = {row["id"]: datetime.fromisoformat(row["start_time"]) for row in await all_events(tenant)}
    running_per_page = [sum(starts[event_id] < POINT for event_id in page) for page in forward]
    assert running_per_page[0] == PAGE, "the first page is all running events"
    assert any(0 < count < PAGE for count in running_per_page), "a page holds the end of one part and the other"


async def seed_modified(tenant: Tenant, context: AppContext) -> dict[str, str]:
    """Five write batches an hour apart; at STAMP+3h half of the first two batches are modified (so they were
    created before the bounds below and updated after), every third of those deleted."""
    first = await new_calendar(tenant, "a")
    second = await new_calendar(tenant, "b")
    batch1 = await insert_events(context, first, 150, start=T0, stamp=STAMP)
    batch2 = await insert_events(context, second, 120, start=T0 + timedelta(hours=20), stamp=STAMP + timedelta(hours=1))
    await insert_events(context, first, 130, start=T0 + timedelta(hours=40), stamp=STAMP + timedelta(hours=2))
    touched = batch1[::2] + batch2[::2]
    await restamp(context, touched[::3], STAMP + timedelta(hours=3), is_deleted=True)
    await restamp(context, [event for index, event in enumerate(touched) if index % 3], STAMP + timedelta(hours=3))
    await insert_events(context, second, 120, start=T0 + timedelta(hours=60), stamp=STAMP + timedelta(hours=4))
    return {"a": first, "b": second}


MODIFIED_CASES: list[dict[str, str]] = [
    {"updated_at_gte": at(STAMP + timedelta(hours=2)), "ordering": "created_at"},
    {"updated_at_gte": at(STAMP + timedelta(hours=2)), "ordering": "-created_at"},
    {"updated_at_gte": at(STAMP + timedelta(hours=3)), "ordering": "created_at"},
    {"updated_at_gte": at(STAMP + timedelta(minutes=30)), "ordering": "-created_at"},
    {"updated_at_gte": at(STAMP + timedelta(hours=2)), "is_deleted": "false", "ordering": "created_at"},
    {"updated_at_gte": at(STAMP + timedelta(hours=2)), "start_time_gte": at(T0 + timedelta(hours=30)), "ordering": "-created_at"},
    # A calendar's pages: split at the bound.
    {"updated_at_gte": at(STAMP + timedelta(hours=1)), "calendar_deduplication_key": "b", "ordering": "created_at"},
    {"updated_at_gte": at(STAMP + timedelta(minutes=30)), "calendar_deduplication_key": "a", "ordering": "-created_at"},
    {"updated_at_gte": at(STAMP + timedelta(hours=2)), "calendar_deduplication_key": "b", "is_deleted": "false", "ordering": "-created_at"},
    {"updated_at_gte": at(STAMP + timedelta(minutes=30)), "calendar_deduplication_key": "a", "start_time_gte": at(T0 + timedelta(hours=30)), "ordering": "created_at"},
]  # fmt: skip


@pytest.mark.parametrize("params", MODIFIED_CASES, ids=case_ids(MODIFIED_CASES))
async def test_modified_pages_equal_one_walk(
    tenant: Tenant, context: AppContext, monkeypatch: pytest.MonkeyPatch, params: dict[str, str]
) -> None:
    calendars = await seed_modified(tenant, context)
    pages = await pages_of_every_plan(tenant, context, monkeypatch, params)
    await pages_hold_the_matches(tenant, pages, params, calendars)
    assert len(pages[0]) > 1, "the case spans pages"


def read_by_updated_at(statement: str) -> bool:
    return "calendar_events.id IN (SELECT" in statement and "UNION" not in statement


async def pages_of_every_plan(
    tenant: Tenant, context: AppContext, monkeypatch: pytest.MonkeyPatch, params: dict[str, str]
) -> tuple[list[list[str]], list[list[str]]]:
    """The pages, which must be the pages of one plain walk: the project's read by update-lag class; a calendar's
    split at the bound, and as one walk when more than MODIFIED_SORT_CAP of its events were updated since."""
    by_calendar = "calendar_deduplication_key" in params
    with captured_sql(context) as statements:
        pages = await walk_both_ways(tenant, params)
    assert any("update_lag_class" in s for s in statements) != by_calendar, "the project's, by lag class"
    assert any(read_by_updated_at(s) for s in statements) == by_calendar, "a calendar's, split"
    if by_calendar:
        monkeypatch.setattr(event_plan, "MODIFIED_SORT_CAP", 1)  # every range is over it
        with captured_sql(context) as statements:
            assert pages == await walk_both_ways(tenant, params), "the same pages over the cap"
        assert not any(read_by_updated_at(s) or "update_lag_class" in s for s in statements), "one walk"
    monkeypatch.setattr(event_plan, "split_modified", lambda *_: None)
    assert pages == await walk_both_ways(tenant, params), "the same pages as one walk"
    return pages


# In the past: on PostgreSQL a listing by `updated_at` holds only rows stamped before now (the change horizon).
LAG_POINT = STAMP + timedelta(days=100)


async def seed_lagged(tenant: Tenant, context: AppContext) -> dict[str, str]:
    """Events created and last written at every distance from LAG_POINT that the update-lag classes tell apart:
    at each class limit and one second either side of it, never rewritten, written again more than a year later,
    and written again by a writer that left the class to the column's default."""
    first = await new_calendar(tenant, "a")
    second = await new_calendar(tenant, "b")
    starts = iter(T0 + timedelta(hours=hour) for hour in range(10_000))

    async def event(calendar: str, created: datetime, updated: datetime, *, deleted: bool = False) -> None:
        ids = await insert_events(context, calendar, 1, start=next(starts), stamp=created)
        if updated != created or deleted:
            await restamp(context, ids, updated, is_deleted=deleted)

    for limit in CLASS_LIMITS:
        await event(first, LAG_POINT - limit, LAG_POINT)  # the earliest creation of its class that matches
        await event(first, LAG_POINT - limit - SECOND, LAG_POINT)  # one second more: the next class
        await event(first, LAG_POINT - limit, LAG_POINT - SECOND, deleted=True)  # a second too early
        await event(second, LAG_POINT - limit + SECOND, LAG_POINT + SECOND)
        await event(first, LAG_POINT - 2 * limit, LAG_POINT - limit)  # long over
    await event(first, LAG_POINT - timedelta(days=500), LAG_POINT + timedelta(days=1))  # unbounded
    await event(second, LAG_POINT - timedelta(days=900), LAG_POINT - timedelta(days=10))  # unbounded, too early
    # 150 events of one class, all matching: more than a page from one class's walk.
    for minutes in range(0, 750, 5):
        await event(first, LAG_POINT - timedelta(days=2, minutes=minutes), LAG_POINT + timedelta(hours=1))
    # Never written again: created since the point (all match) and before it (none do).
    await insert_events(context, first, 60, start=next(starts), stamp=LAG_POINT + timedelta(minutes=3))
    await insert_events(context, second, 40, start=next(starts), stamp=LAG_POINT - timedelta(minutes=3))
    unclassified = await insert_spans(
        context, second, [(next(starts), next(starts))], stamp=LAG_POINT - timedelta(days=40), classify=False
    )
    await restamp(context, unclassified, LAG_POINT + timedelta(hours=2), classify=False)
    return {"a": first, "b": second}


LAG_CASES: list[dict[str, str]] = [
    {"updated_at_gte": at(LAG_POINT), "ordering": "created_at"},
    {"updated_at_gte": at(LAG_POINT), "ordering": "-created_at"},
    {"updated_at_gte": at(LAG_POINT + SECOND), "ordering": "created_at"},
    {"updated_at_gte": at(LAG_POINT - SECOND), "ordering": "-created_at"},
    {"updated_at_gte": at(LAG_POINT), "is_deleted": "false", "ordering": "created_at"},
    {"updated_at_gte": at(LAG_POINT), "start_time_gte": at(T0 + timedelta(hours=30)), "ordering": "created_at"},
    {"updated_at_gte": at(LAG_POINT - SECOND), "calendar_deduplication_key": "b", "ordering": "created_at"},
]  # fmt: skip


@pytest.mark.parametrize("params", LAG_CASES, ids=case_ids(LAG_CASES))
async def test_lag_class_pages_equal_one_walk(
    tenant: Tenant, context: AppContext, monkeypatch: pytest.MonkeyPatch, params: dict[str, str]
) -> None:
    calendars = await seed_lagged(tenant, context)
    pages = await pages_of_every_plan(tenant, context, monkeypatch, params)
    await pages_hold_the_matches(tenant, pages, params, calendars)
    assert len(pages[0]) > 1 or "calendar_deduplication_key" in params, "the case spans pages"
