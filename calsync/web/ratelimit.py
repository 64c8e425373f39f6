"""Sliding-window rate limits in this process: calendar creation per project (Attendee's `ProjectPostThrottle`,
default 3000/min), and the dashboard's failed sign-ins per client address and per key prefix.

A sliding window of timestamps per key. With several API processes behind a load balancer each enforces the limit
on its own share of the traffic (documented in docs/api.md and docs/dashboard.md)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable
from datetime import datetime

from calsync.clock import Clock

WINDOW_SECONDS = 60.0
# Keys an attacker chooses (addresses, key prefixes) must not grow the table without bound: past this many keys,
# those whose hits have all left the window are dropped, then the oldest.
MAX_KEYS = 10_000


class SlidingWindowLimiter:
    def __init__(
        self, per_minute: int, clock: Clock, *, window_seconds: float = WINDOW_SECONDS, max_keys: int = MAX_KEYS
    ) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.window_seconds = window_seconds
        self.max_keys = max_keys
        self._hits: dict[Hashable, deque[datetime]] = {}

    def check(self, key: Hashable) -> float | None:
        """Record a hit and return None, or return the seconds to wait when over the limit."""
        wait = self.wait(key)
        if wait is None:
            self.record(key)
        return wait

    def wait(self, key: Hashable) -> float | None:
        """The seconds to wait when `key` is over the limit, else None; records nothing (a sign-in counts only
        its failures, recorded once they are known)."""
        now = self.clock()
        hits = self._hits.get(key)
        if hits is None:
            return None
        self._expire(hits, now)
        if len(hits) >= self.per_minute:
            return max(0.0, self.window_seconds - (now - hits[0]).total_seconds())
        return None

    def record(self, key: Hashable) -> None:
        now = self.clock()
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_keys:
                self._prune(now)
            hits = self._hits[key] = deque()
        self._expire(hits, now)
        hits.append(now)

    def _expire(self, hits: deque[datetime], now: datetime) -> None:
        while hits and (now - hits[0]).total_seconds() >= self.window_seconds:
            hits.popleft()

    def _prune(self, now: datetime) -> None:
        for key in [
            k for k, hits in self._hits.items() if not hits or (now - hits[-1]).total_seconds() >= self.window_seconds
        ]:
            del self._hits[key]
        while len(self._hits) >= self.max_keys:  # all still in their window: forget the oldest keys
            del self._hits[next(iter(self._hits))]


def retry_after_seconds(wait: float) -> int:
    return max(1, math.ceil(wait))
