"""Subscription health: a failure streak becomes "failing" only when it is both long and repeated.

Being failing changes nothing about delivery (queued deliveries keep their retries); it is a signal for the
customer, shown in the API. One success makes the subscription healthy again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from calsync.store.models import WebhookSubscription
from calsync.webhooks.payloads import format_timestamp as iso

FAILING_AFTER = timedelta(minutes=30)
FAILING_MIN_FAILURES = 3
ERROR_CHARS = 1000


@dataclass
class HealthColumns:
    """The health columns of a webhook (WebhookSubscription's) as plain values: the delivery record reads and writes
    them with Core statements, no ORM instance."""

    consecutive_failures: int
    failure_streak_started_at: datetime | None
    failing_since: datetime | None
    last_error: str | None
    last_failure_at: datetime | None
    last_success_at: datetime | None


HEALTH_FIELDS = tuple(HealthColumns.__dataclass_fields__)
# What the functions below update: the ORM row (the API), or its columns as plain values (the delivery record).
Health = WebhookSubscription | HealthColumns


def record_success(subscription: Health, now: datetime) -> None:
    subscription.consecutive_failures = 0
    subscription.failure_streak_started_at = None
    subscription.failing_since = None
    subscription.last_success_at = now


def record_failure(subscription: Health, error: str, now: datetime) -> None:
    if subscription.failure_streak_started_at is None:
        subscription.failure_streak_started_at = now
    subscription.consecutive_failures = (subscription.consecutive_failures or 0) + 1
    subscription.last_error = error[:ERROR_CHARS]
    subscription.last_failure_at = now
    lasted = now - subscription.failure_streak_started_at
    if (
        subscription.failing_since is None
        and subscription.consecutive_failures >= FAILING_MIN_FAILURES
        and lasted >= FAILING_AFTER
    ):
        subscription.failing_since = now


def health_json(subscription: Health) -> dict[str, Any]:
    return {
        "state": "failing" if subscription.failing_since is not None else "healthy",
        "failing_since": iso(subscription.failing_since),
        "consecutive_failures": subscription.consecutive_failures,
        "last_error": subscription.last_error,
        "last_failure_at": iso(subscription.last_failure_at),
        "last_success_at": iso(subscription.last_success_at),
    }
