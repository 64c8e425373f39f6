"""The plan of an events listing, without a database: the splits admit exactly the events the filters admit, in
the order the plan reads them; every read's bounds keep every event it must return; the plan of each kind of
page. (The pages the plans give, on both databases: tests/api/test_event_plans.py, tests/api/test_split_queries.py.)"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from hypothesis import example, given
from hypothesis import strategies as st

from calsync.store.duration_classes import CLASS_LIMITS, span_class, update_lag_class
from calsync.store.keyset import SeekKey
from calsync.store.queries.event_plan import (
    EventFilters,
    IfFewUpdated,
    Joined,
    LagClasses,
    ModifiedBefore,
    Nothing,
    Ranges,
    RunningAtPoint,
    Seek,
    Walk,
    counts_ranges,
    lag_class_ranges,
    plan_page,
    ranges_of,
    seek_bounded,
    smallest,
    span_class_ranges,
    split_at_running,
    split_modified,
)

POINT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
# Times around POINT at the distances that matter: every class limit and a second either side, within a second,
# and far off.
OFFSETS = sorted(
    {timedelta(0), timedelta(milliseconds=500), SECOND, timedelta(days=800)}
    | {limit + delta for limit in CLASS_LIMITS for delta in (-SECOND, timedelta(0), SECOND)}
)
times = st.sampled_from([POINT + sign * offset for offset in OFFSETS for sign in (1, -1)])
maybe_times = st.none() | times
ORDER_COLUMNS = ("updated_at", "created_at", "start_time", "end_time")


@dataclass(frozen=True)
class Event:
    start: datetime
    end: datetime
    created: datetime
    updated: datetime
    row_id: int = 1

    def value(self, column: str) -> datetime:
        return {"start_time": self.start, "end_time": self.end, "created_at": self.created, "updated_at": self.updated}[
            column
        ]


@st.composite
def events(draw: st.DrawFn) -> Event:
    """An event as stored: it ends at or after its start and is updated at or after its creation."""
    start, end = sorted((draw(times), draw(times)))
    created, updated = sorted((draw(times), draw(times)))
    return Event(start, end, created, updated, draw(st.integers(1, 3)))


filters = st.builds(
    EventFilters,
    calendar_ids=st.none() | st.just([1, 2]),
    updated_at_gte=maybe_times,
    start_time_gte=maybe_times,
    start_time_lte=maybe_times,
    end_time_gte=maybe_times,
    end_time_lte=maybe_times,
    is_deleted=st.none() | st.booleans(),
    created_at_gte=maybe_times,
)
seeks = st.builds(
    Seek,
    column=st.sampled_from(ORDER_COLUMNS),
    after=st.none() | st.builds(SeekKey, times, st.integers(1, 3)),
    descending=st.booleans(),
)


def admits(f: EventFilters, e: Event) -> bool:
    """The time filters as the API states them."""
    bounds = (
        (f.updated_at_gte, e.updated, None),
        (f.created_at_gte, e.created, None),
        (f.start_time_gte, e.start, None),
        (f.start_time_lte, None, e.start),
        (f.end_time_gte, e.end, None),
        (f.end_time_lte, None, e.end),
    )
    return all(
        bound is None or ((low is None or low >= bound) and (high is None or high <= bound))
        for bound, low, high in bounds
    )


def in_ranges(ranges: Ranges, e: Event) -> bool:
    return all(
        (lower is None or e.value(column) >= lower) and (upper is None or e.value(column) <= upper)
        for column, (lower, upper) in ranges.items()
    )


def past_seek(seek: Seek, e: Event) -> bool:
    """Whether the walk from the seek key reaches the event (the key's own row excluded)."""
    if seek.after is None:
        return True
    key, after = (e.value(seek.column), e.row_id), (seek.after.value, seek.after.row_id)
    return key < after if seek.descending else key > after


def same_other_filters(a: EventFilters, b: EventFilters) -> bool:
    return (a.calendar_ids, a.event_object_id, a.is_deleted) == (b.calendar_ids, b.event_object_id, b.is_deleted)


@given(filters, events())
def test_the_ranges_admit_what_the_filters_admit(f: EventFilters, e: Event) -> None:
    assert in_ranges(ranges_of(f), e) == admits(f, e)


@given(filters, st.sampled_from(ORDER_COLUMNS), events())
def test_a_running_split_admits_the_same_events_once(f: EventFilters, column: str, e: Event) -> None:
    split = split_at_running(f, column)
    if split is None:
        return
    point = split.point
    running_now = (e.start < point <= e.end) if split.start_before_point else (e.start <= point < e.end)
    in_clear = admits(split.clear, e)
    in_running = split.running is not None and running_now and admits(split.running, e)
    assert (in_clear or in_running) == admits(f, e)
    assert not (in_clear and in_running), "the parts are disjoint"
    assert same_other_filters(split.clear, f) and (split.running is None or same_other_filters(split.running, f))


@given(filters, st.sampled_from(ORDER_COLUMNS), events(), events())
def test_the_running_part_comes_where_the_split_says(f: EventFilters, column: str, a: Event, b: Event) -> None:
    split = split_at_running(f, column)
    if split is None or split.running is None:
        return
    point = split.point
    running = (a.start < point <= a.end) if split.start_before_point else (a.start <= point < a.end)
    if not (running and admits(split.running, a) and admits(split.clear, b)):
        return
    if split.running_first:
        assert a.value(column) < b.value(column)
    else:
        assert a.value(column) > b.value(column)


@given(filters, st.sampled_from(ORDER_COLUMNS), events(), events())
def test_a_modified_split_admits_the_same_events_once(f: EventFilters, column: str, e: Event, later: Event) -> None:
    split = split_modified(f, column)
    if split is None:
        assert column != "created_at" or f.updated_at_gte is None
        return
    in_clear = admits(split.clear, e)
    in_modified = e.created < split.point and admits(f, e)
    assert (in_clear or in_modified) == admits(f, e)
    assert not (in_clear and in_modified)
    assert same_other_filters(split.clear, f)
    if in_modified and admits(split.clear, later):
        assert e.created < later.created, "in ascending order the modified events come first"


@given(filters, seeks, events())
def test_the_seek_bound_keeps_every_event_past_the_key(f: EventFilters, seek: Seek, e: Event) -> None:
    ranges = ranges_of(f)
    bounded = seek_bounded(ranges, seek)
    assert set(bounded) == set(ranges)
    if in_ranges(bounded, e):
        assert in_ranges(ranges, e), "never looser"
    if past_seek(seek, e):
        assert in_ranges(bounded, e) == in_ranges(ranges, e)


@given(filters, st.sampled_from(ORDER_COLUMNS), events())
# The filter's upper bound on start, just before the point: it must stay stated.
@example(
    EventFilters(start_time_lte=POINT + SECOND / 2, end_time_gte=POINT + SECOND),
    "start_time",
    Event(POINT + SECOND * 3 / 4, POINT + 2 * SECOND, POINT, POINT),
)
def test_each_span_class_range_holds_its_running_events(f: EventFilters, column: str, e: Event) -> None:
    split = split_at_running(f, column)
    if split is None or split.running is None:
        return
    point = split.point
    running = (e.start < point <= e.end) if split.start_before_point else (e.start <= point < e.end)
    classes = dict(span_class_ranges(split, split.running))
    assert sorted(classes) == list(range(len(CLASS_LIMITS) + 1))
    if running:
        # Its class's range (with the terms at the point) reads the running event exactly if the filters admit it.
        assert in_ranges(classes[span_class(e.start, e.end)], e) == admits(split.running, e)


@given(filters, seeks, events())
def test_each_lag_class_walk_holds_its_updated_events(f: EventFilters, seek: Seek, e: Event) -> None:
    f = replace(f, updated_at_gte=f.updated_at_gte or POINT)
    seek = replace(seek, column="created_at")
    classes = dict(lag_class_ranges(f, seek))
    assert sorted(classes) == list(range(len(CLASS_LIMITS) + 1))
    if past_seek(seek, e):
        # Its class's walk reads the event exactly if the filters admit it.
        assert in_ranges(classes[update_lag_class(e.created, e.updated)], e) == admits(f, e)


@given(filters, seeks)
def test_the_plan_of_a_page(f: EventFilters, seek: Seek) -> None:
    plan = plan_page(f, seek)
    if f.calendar_ids == []:
        assert plan == Nothing()
    elif f.event_object_id is not None:
        assert plan == Walk(f)
    elif seek.column == "created_at" and f.updated_at_gte is not None:
        if f.calendar_ids is None:
            assert plan == LagClasses(f)
        else:
            assert isinstance(plan, IfFewUpdated) and plan.filters == f
            modified = split_modified(f, "created_at")
            assert modified is not None
            parts = (ModifiedBefore(modified, f), Walk(modified.clear))
            assert plan.joined == (Joined(*parts) if not seek.descending else Joined(*reversed(parts)))
            assert plan.otherwise == Walk(f), "no running split orders by created_at"
    else:
        split = split_at_running(f, seek.column)
        if split is None:
            assert plan == Walk(f)
        elif split.running is None:
            assert plan == Walk(split.clear)
        else:
            parts = (RunningAtPoint(split, split.running), Walk(split.clear))
            in_order = split.running_first != seek.descending
            assert plan == (Joined(*parts) if in_order else Joined(*reversed(parts)))


def test_no_calendar_is_no_query_even_for_one_event() -> None:
    f = EventFilters(calendar_ids=[], event_object_id="evt_x")
    assert plan_page(f, Seek("updated_at", None, descending=True)) == Nothing()


def test_only_a_range_on_another_column_is_counted() -> None:
    f = EventFilters(start_time_gte=POINT, end_time_lte=POINT + timedelta(days=1))
    assert not counts_ranges(f, {"start_time": (POINT, None)}, "start_time")
    assert counts_ranges(f, ranges_of(f), "start_time")
    assert not counts_ranges(replace(f, event_object_id="evt_x"), ranges_of(f), "updated_at")


@given(st.dictionaries(st.sampled_from(ORDER_COLUMNS), st.integers(0, 20)), st.integers(0, 21))
def test_the_smallest_range_under_the_cap(sizes: dict[str, int], cap: int) -> None:
    chosen = smallest(sizes, cap)
    under = {name: size for name, size in sizes.items() if size < cap}
    if not under:
        assert chosen is None
        return
    assert chosen is not None and sizes[chosen] == min(under.values())
    assert chosen == next(name for name, size in sizes.items() if size == sizes[chosen]), "the first of equals"
