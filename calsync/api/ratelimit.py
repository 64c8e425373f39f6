"""Per-project limit on calendar creation (the anchor's `ProjectPostThrottle`, default 3000/min).

A sliding window of timestamps per project in this process. With several API processes behind a load
balancer each enforces the limit on its own share of the traffic (documented in docs/api.md)."""

from __future__ import annotations

import math
from collections import deque
from datetime import datetime

from calsync.clock import Clock

WINDOW_SECONDS = 60.0


class SlidingWindowLimiter:
    def __init__(self, per_minute: int, clock: Clock) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._hits: dict[int, deque[datetime]] = {}

    def check(self, key: int) -> float | None:
        """Record a hit and return None, or return the seconds to wait when over the limit."""
        now = self.clock()
        hits = self._hits.setdefault(key, deque())
        while hits and (now - hits[0]).total_seconds() >= WINDOW_SECONDS:
            hits.popleft()
        if len(hits) >= self.per_minute:
            return max(0.0, WINDOW_SECONDS - (now - hits[0]).total_seconds())
        hits.append(now)
        return None


def retry_after_seconds(wait: float) -> int:
    return max(1, math.ceil(wait))
