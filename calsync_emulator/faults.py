"""Fault injection: rules that make the next N (or a fraction of) matching requests fail or slow down.

A rule matches by platform, account and a substring of the request path; the platform routes ask
`FaultInjector.pick` after resolving the caller and render the fault in their own error dialect.
"""

from __future__ import annotations

import enum
import random
from dataclasses import asdict, dataclass
from typing import Any

from calsync_emulator import ids


class FaultKind(enum.StrEnum):
    THROTTLE_429 = "throttle_429"  # Google 429 rateLimitExceeded / Graph 429 TooManyRequests
    APPLICATION_THROTTLED_429 = "application_throttled_429"  # Graph 429 ApplicationThrottled
    RATE_LIMIT_403 = "rate_limit_403"  # Google 403 usageLimits rateLimitExceeded
    USER_RATE_LIMIT_403 = "user_rate_limit_403"  # Google 403 usageLimits userRateLimitExceeded
    QUOTA_EXCEEDED_403 = "quota_exceeded_403"  # Google 403 usageLimits quotaExceeded
    ERROR_500 = "error_500"
    ERROR_503 = "error_503"
    ERROR_504 = "error_504"
    LATENCY = "latency"  # delay the response by latency_ms, then serve normally
    DROP_NOTIFICATIONS = "drop_notifications"  # push notifications are silently not sent


@dataclass(slots=True)
class FaultRule:
    id: str
    kind: FaultKind
    platform: str | None = None  # google | microsoft | None (both)
    account_id: str | None = None  # None = every account
    path_contains: str | None = None  # e.g. "/events", "/token", "calendarView/delta"
    remaining: int | None = None  # next N matching requests; None = unlimited
    fraction: float | None = None  # probability per matching request; None = always
    retry_after: int | None = None  # seconds, for 429/503
    latency_ms: int = 0
    hits: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultInjector:
    def __init__(self, seed: int = 0) -> None:
        self.rules: dict[str, FaultRule] = {}
        self._rng = random.Random(seed)  # seeded so fractional faults are reproducible

    def add(self, rule: FaultRule) -> FaultRule:
        if not rule.id:
            rule.id = f"flt_{ids.short_id()}"
        self.rules[rule.id] = rule
        return rule

    def remove(self, rule_id: str) -> bool:
        return self.rules.pop(rule_id, None) is not None

    def clear(self) -> None:
        self.rules.clear()

    def pick(self, platform: str, account_id: str | None, path: str, *, notification: bool = False) -> list[FaultRule]:
        """The rules that fire for this request (or notification), consuming their counts. Latency rules
        can fire together with one failing rule; only the first failing rule is returned."""
        fired: list[FaultRule] = []
        failing = False
        for rule in list(self.rules.values()):
            if (rule.kind is FaultKind.DROP_NOTIFICATIONS) != notification:
                continue
            if rule.platform is not None and rule.platform != platform:
                continue
            if rule.account_id is not None and rule.account_id != account_id:
                continue
            if rule.path_contains is not None and rule.path_contains not in path:
                continue
            is_failure = rule.kind not in (FaultKind.LATENCY, FaultKind.DROP_NOTIFICATIONS)
            if is_failure and failing:
                continue
            if rule.fraction is not None and self._rng.random() >= rule.fraction:
                continue
            rule.hits += 1
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    del self.rules[rule.id]
            fired.append(rule)
            failing = failing or is_failure
        return fired
