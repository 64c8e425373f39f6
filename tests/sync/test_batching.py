"""Pages merged into one write keep the listing's order of events: later pages win."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from calsync.providers.base import NormalizedEvent
from calsync.sync import batching
from calsync.sync.batching import ChangeBatch

START = datetime(2026, 6, 1, tzinfo=UTC)


def event(uuid: str, version: int = 0) -> NormalizedEvent:
    return NormalizedEvent(
        platform_uuid=uuid,
        is_deleted=False,
        start_time=START,
        end_time=START + timedelta(hours=1),
        name=f"{uuid} v{version}",
    )


def test_a_later_page_replaces_an_earlier_version() -> None:
    batch = ChangeBatch()
    batch.add([event("a", 1), event("b", 1)], [])
    batch.add([event("a", 2)], [])
    events, removed = batch.take()
    assert {e.platform_uuid: e.name for e in events} == {"a": "a v2", "b": "b v1"}
    assert removed == []


def test_a_later_removal_removes_an_event_an_earlier_page_listed() -> None:
    batch = ChangeBatch()
    batch.add([event("a"), event("b")], [])
    batch.add([], ["a"])
    events, removed = batch.take()
    assert [e.platform_uuid for e in events] == ["b"]
    assert removed == ["a"]


def test_a_later_listing_revives_a_removed_id() -> None:
    batch = ChangeBatch()
    batch.add([], ["a"])
    batch.add([event("a", 3)], [])
    events, removed = batch.take()
    assert [e.name for e in events] == ["a v3"] and removed == []


def test_within_one_page_a_listed_event_wins_over_its_removal() -> None:
    batch = ChangeBatch()
    batch.add([event("a")], ["a"])
    events, removed = batch.take()
    assert [e.platform_uuid for e in events] == ["a"] and removed == []


def test_full_at_the_limit_and_empty_after_take(monkeypatch) -> None:
    monkeypatch.setattr(batching, "APPLY_BATCH_EVENTS", 3)
    batch = ChangeBatch()
    batch.add([event("a"), event("b")], [])
    assert not batch.full
    batch.add([], ["c"])
    assert batch.full
    batch.take()
    assert len(batch) == 0 and batch.take() == ([], [])


pages = st.lists(
    st.tuples(
        st.lists(st.tuples(st.sampled_from("abcdef"), st.integers(0, 9)), max_size=6),
        st.lists(st.sampled_from("abcdef"), max_size=4),
    ),
    max_size=6,
)


@given(pages)
def test_merging_equals_applying_the_pages_one_by_one(listing: list[tuple[list[tuple[str, int]], list[str]]]) -> None:
    # Reference: the stored state after applying each page in turn, as apply.plan_page does for one page
    # (an id both listed and removed in a page counts as listed; the last listing of an id wins).
    state: dict[str, str | None] = {}
    batch = ChangeBatch()
    for listed, removed in listing:
        latest = {uuid: f"{uuid} v{version}" for uuid, version in listed}
        for uuid in removed:
            if uuid not in latest:
                state[uuid] = None
        state.update(latest)
        batch.add([event(uuid, version) for uuid, version in listed], removed)
    events, gone = batch.take()
    merged: dict[str, str | None] = {uuid: None for uuid in gone} | {e.platform_uuid: e.name for e in events}
    assert merged == state
