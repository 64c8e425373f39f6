"""The push debounce's leading edge: a lone notification syncs at once, a burst during a sync costs one more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from calsync.push.debounce import is_quiet, push_due_at
from calsync.store.models import Calendar

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
DEBOUNCE = timedelta(seconds=1)


def calendar(
    *, lease_owner: str | None = None, lease_expires_at: datetime | None = None, last: datetime | None = None
) -> Calendar:
    return Calendar(lease_owner=lease_owner, lease_expires_at=lease_expires_at, last_attempted_sync_at=last)


def test_first_notification_after_a_quiet_spell_is_due_now() -> None:
    assert push_due_at(calendar(last=NOW - timedelta(minutes=5)), NOW, DEBOUNCE) == NOW
    assert push_due_at(calendar(), NOW, DEBOUNCE) == NOW


def test_notification_during_a_sync_waits_for_the_debounce() -> None:
    running = calendar(lease_owner="worker-1", lease_expires_at=NOW + timedelta(seconds=60))
    assert push_due_at(running, NOW, DEBOUNCE) == NOW + DEBOUNCE


def test_notification_right_after_a_sync_waits_for_the_debounce() -> None:
    assert push_due_at(calendar(last=NOW - timedelta(milliseconds=300)), NOW, DEBOUNCE) == NOW + DEBOUNCE


def test_an_expired_lease_is_not_a_running_sync() -> None:
    stale = calendar(lease_owner="dead-worker", lease_expires_at=NOW - timedelta(seconds=1))
    assert is_quiet(stale, NOW, DEBOUNCE)


@given(
    leased=st.booleans(),
    lease_left=st.integers(min_value=-120, max_value=120),
    since_last=st.one_of(st.none(), st.integers(min_value=0, max_value=10_000)),
    debounce_ms=st.integers(min_value=0, max_value=5_000),
)
def test_due_time_is_now_or_the_debounce_and_never_later(
    leased: bool, lease_left: int, since_last: int | None, debounce_ms: int
) -> None:
    debounce = timedelta(milliseconds=debounce_ms)
    row = calendar(
        lease_owner="w" if leased else None,
        lease_expires_at=NOW + timedelta(seconds=lease_left),
        last=None if since_last is None else NOW - timedelta(milliseconds=since_last),
    )
    due = push_due_at(row, NOW, debounce)
    assert due in (NOW, NOW + debounce)
    if leased and lease_left > 0:
        assert due == NOW + debounce
