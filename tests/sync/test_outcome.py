"""What a sync's outcome does to its calendar (calsync.sync.outcome): pure plans, checked without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from calsync.providers.base import DISCONNECTING_KINDS, ErrorKind, ProviderError
from calsync.sync import outcome
from calsync.sync.outcome import CONNECTED, DISCONNECTED, CalendarFacts

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CLAIMED = NOW - timedelta(seconds=30)  # the due time the worker claimed the calendar at


def _backoff(failures: int) -> timedelta:
    return timedelta(seconds=5 * failures)


offsets = st.integers(min_value=-3_600, max_value=3_600).map(lambda seconds: NOW + timedelta(seconds=seconds))
facts = st.builds(
    CalendarFacts,
    state=st.sampled_from([CONNECTED, DISCONNECTED]),
    push_state=st.sampled_from(["none", "active", "failing"]),
    sync_due_at=st.none() | offsets,
    sync_reason=st.none() | st.sampled_from(["push", "requested", "fallback", "retry"]),
    consecutive_failures=st.integers(min_value=0, max_value=20),
)
errors = st.builds(
    ProviderError,
    st.sampled_from(list(ErrorKind)),
    st.just("it failed"),
    code=st.none() | st.just("platform_code"),
    retry_after=st.none() | st.floats(min_value=1, max_value=600),
)
waits = st.none() | st.integers(min_value=1, max_value=600).map(lambda seconds: timedelta(seconds=seconds))


def _asked_mid_sync(calendar: CalendarFacts) -> bool:
    return calendar.sync_due_at is not None and calendar.sync_due_at < CLAIMED


@given(st.none() | offsets, offsets)
def test_next_due_keeps_only_an_earlier_request_made_while_the_sync_ran(current, proposed) -> None:
    due = outcome.next_due(current, CLAIMED, proposed)
    assert due <= proposed
    if current is not None and current < CLAIMED:
        assert due == min(current, proposed)
    else:
        assert due == proposed


@given(facts, st.integers(min_value=60, max_value=7_200).map(lambda seconds: timedelta(seconds=seconds)))
def test_a_success_resets_failures_and_connects_once(calendar: CalendarFacts, safety_net: timedelta) -> None:
    plan = outcome.succeeded(calendar, NOW, CLAIMED, NOW + safety_net, "safety_net")
    values = plan.values
    assert values["consecutive_failures"] == 0 and values["last_sync_error"] is None
    assert values["last_successful_sync_at"] == values["last_attempted_sync_at"] == NOW
    assert values["sync_due_at"] <= NOW + safety_net
    # The check's reason says nothing asked sooner; an earlier request keeps its own reason.
    fell_back = values["sync_due_at"] == NOW + safety_net
    assert values["sync_reason"] == ("safety_net" if fell_back else calendar.sync_reason)
    if calendar.state == CONNECTED:
        assert plan.became is None and "state" not in values
    else:
        assert plan.became == CONNECTED and plan.state_changed and plan.previous_state == DISCONNECTED
        assert values["state"] == CONNECTED and values["connection_failure_data"] is None
        assert values["updated_at"] == NOW and plan.at == NOW
    assert not plan.forget_channels


@given(facts, errors, waits)
def test_a_refused_grant_disconnects_and_waits_for_new_credentials(calendar, error, throttle_wait) -> None:
    plan = outcome.failed(calendar, error, NOW, CLAIMED, throttle_wait=throttle_wait, backoff=_backoff)
    values = plan.values
    if not error.disconnects:
        assert plan.became is None and not plan.forget_channels and "state" not in values
        return
    assert error.kind in DISCONNECTING_KINDS
    assert values["state"] == DISCONNECTED and plan.became == DISCONNECTED and plan.forget_channels
    assert values["push_state"] == "none" and values["encrypted_access_token"] is None
    assert values["connection_failure_data"]["code"] == error.kind.value
    assert values["connection_failure_data"]["platform_code"] == error.code
    # Not due again unless a PATCH (new credentials) arrived while it ran.
    assert values["sync_due_at"] == (calendar.sync_due_at if _asked_mid_sync(calendar) else None)
    assert plan.state_changed == (calendar.state != DISCONNECTED)
    assert ("updated_at" in values) == plan.state_changed
    assert "consecutive_failures" not in values, "a disconnect is not a failure to retry"


@given(facts, errors, waits)
def test_any_other_failure_is_counted_and_retried(calendar, error, throttle_wait) -> None:
    plan = outcome.failed(calendar, error, NOW, CLAIMED, throttle_wait=throttle_wait, backoff=_backoff)
    if error.disconnects:
        return
    values = plan.values
    failures = calendar.consecutive_failures + 1
    wait = throttle_wait or _backoff(failures)
    assert values["consecutive_failures"] == failures and values["sync_reason"] == "retry"
    assert values["sync_due_at"] == outcome.next_due(calendar.sync_due_at, CLAIMED, NOW + wait)
    assert values["last_sync_error"] == {
        "error": "it failed",
        "code": error.code or error.kind.value,
        "kind": error.kind.value,
        "timestamp": "2026-03-02T09:00:00.000000Z",
    }
    assert values["last_attempted_sync_at"] == NOW


@given(facts, offsets)
def test_a_throttled_client_is_never_due_before_its_pause_ends(calendar, until) -> None:
    plan = outcome.throttled(calendar, until, CLAIMED)
    assert plan.values["sync_due_at"] >= until and plan.values["sync_reason"] == "throttled"
    assert set(plan.values) == {"sync_due_at", "sync_reason"}, "nothing else: it was not synced"


@given(facts)
def test_a_crash_is_visible_and_retried_with_backoff(calendar) -> None:
    plan = outcome.crashed(calendar, KeyError("secret detail"), NOW, _backoff)
    error = plan.values["last_sync_error"]
    assert error["code"] == error["kind"] == "internal_error"
    assert "KeyError" in error["error"] and "secret detail" not in error["error"]
    assert plan.values["consecutive_failures"] == calendar.consecutive_failures + 1
    assert plan.values["sync_due_at"] == NOW + _backoff(calendar.consecutive_failures + 1)


@given(facts, st.integers(min_value=2, max_value=4).map(lambda seconds: NOW + timedelta(seconds=seconds)))
def test_a_database_fault_counts_nothing_and_keeps_an_earlier_request(calendar, retry_at) -> None:
    plan = outcome.database_failed(calendar, retry_at, CLAIMED)
    assert set(plan.values) == {"sync_due_at", "sync_reason"}
    assert plan.values["sync_due_at"] == outcome.next_due(calendar.sync_due_at, CLAIMED, retry_at)
    expected_reason = "database_retry" if plan.values["sync_due_at"] == retry_at else calendar.sync_reason
    assert plan.values["sync_reason"] == expected_reason


def test_a_calendar_handed_back_is_due_at_once() -> None:
    assert outcome.handed_back(NOW).values == {"sync_due_at": NOW}
