"""Retry timing: exponential growth, full jitter within bounds, determinism, and the horizon."""

import random
from datetime import UTC, datetime, timedelta

from calsync.settings import Settings
from calsync.webhooks.backoff import RetryPolicy, next_attempt_at, retry_delay

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_delays_are_deterministic_for_a_seed():
    first = [retry_delay(n, random.Random(42)) for n in range(1, 20)]
    second = [retry_delay(n, random.Random(42)) for n in range(1, 20)]
    assert first == second


def test_delay_bounds_grow_exponentially_then_cap():
    policy = RetryPolicy(base_seconds=5, cap_seconds=3600, floor_seconds=1)
    rng = random.Random(7)
    for attempt in range(1, 40):
        ceiling = min(3600, 5 * 2 ** (attempt - 1))
        draws = [retry_delay(attempt, rng, policy) for _ in range(200)]
        assert all(1 <= d <= ceiling for d in draws)
        # Full jitter: the draws spread over the range rather than sitting at the ceiling.
        assert min(draws) < ceiling / 2 < max(draws)
    assert retry_delay(10_000, rng, policy) <= 3600  # no overflow after absurd attempt counts


def test_first_retry_is_seconds_not_minutes():
    rng = random.Random(1)
    assert all(1 <= retry_delay(1, rng) <= 5 for _ in range(100))


def test_schedule_covers_the_horizon_then_gives_up():
    policy = RetryPolicy(horizon=timedelta(hours=24))
    rng = random.Random(3)
    now, times = T0, []
    for attempts in range(1, 1000):  # bounded; the schedule must end well before this
        nxt = next_attempt_at(created_at=T0, failed_at=now, failed_attempts=attempts, rng=rng, policy=policy)
        if nxt is None:
            break
        assert nxt > now
        times.append(nxt)
        now = nxt
    else:
        raise AssertionError("retries never stopped")
    deadline = T0 + timedelta(hours=24)
    assert times[-1] == deadline  # a last chance exactly at the horizon
    assert all(t <= deadline for t in times)
    assert 20 < len(times) < 200  # far beyond Attendee's 3 attempts, yet not a hammering


def test_failure_at_or_after_horizon_is_final():
    policy = RetryPolicy(horizon=timedelta(hours=1))
    rng = random.Random(0)
    deadline = T0 + timedelta(hours=1)
    assert next_attempt_at(created_at=T0, failed_at=deadline, failed_attempts=9, rng=rng, policy=policy) is None
    late = deadline + timedelta(seconds=1)
    assert next_attempt_at(created_at=T0, failed_at=late, failed_attempts=9, rng=rng, policy=policy) is None
    near = deadline - timedelta(seconds=1)
    assert next_attempt_at(created_at=T0, failed_at=near, failed_attempts=9, rng=rng, policy=policy) == deadline


def test_policy_from_settings():
    assert RetryPolicy.from_settings(Settings()).horizon == timedelta(hours=24)
    assert RetryPolicy.from_settings(Settings(webhook_retry_horizon_hours=0.5)).horizon == timedelta(minutes=30)
