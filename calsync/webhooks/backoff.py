"""When to retry a failed delivery, and when to give up.

Exponential growth with full jitter (AWS "full jitter"): the delay is uniform in [floor, min(cap, base * 2^n)],
which spreads the retries of many deliveries that failed together (an endpoint outage) instead of having them
return in lockstep. Retries continue over a horizon measured from the delivery's creation; one last attempt is
made at the horizon itself, after which the delivery is `failed`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from calsync.settings import Settings

# 2**30 * 5 s is far beyond any cap; stops the float from overflowing after many attempts.
_MAX_EXPONENT = 30


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 5.0
    cap_seconds: float = 3600.0
    # Never retry sooner than this: full jitter alone can draw ~0 s and hammer a struggling endpoint.
    floor_seconds: float = 1.0
    horizon: timedelta = timedelta(hours=24)

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(horizon=timedelta(hours=settings.webhook_retry_horizon_hours))


def retry_delay(failed_attempts: int, rng: random.Random, policy: RetryPolicy | None = None) -> float:
    """Seconds to wait after the `failed_attempts`-th failure (1 for the first)."""
    policy = policy or RetryPolicy()
    exponent = min(max(failed_attempts, 1) - 1, _MAX_EXPONENT)
    ceiling = min(policy.cap_seconds, policy.base_seconds * 2**exponent)
    floor = min(policy.floor_seconds, ceiling)
    return rng.uniform(floor, ceiling)


def next_attempt_at(
    *,
    created_at: datetime,
    failed_at: datetime,
    failed_attempts: int,
    rng: random.Random,
    policy: RetryPolicy | None = None,
) -> datetime | None:
    """When to try again, or None to give up (the delivery becomes `failed`).

    `created_at` is when the delivery was queued (the horizon runs from there), `failed_at` when the attempt that
    just failed ended. A retry that would land past the horizon is moved to the horizon, so the endpoint gets a
    last chance at the very end; a failure at or after the horizon is final.
    """
    policy = policy or RetryPolicy()
    deadline = created_at + policy.horizon
    if failed_at >= deadline:
        return None
    return min(failed_at + timedelta(seconds=retry_delay(failed_attempts, rng, policy)), deadline)
