"""The mirrored window: a rolling range around now, re-based by each full reconcile."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from calsync.settings import Settings


def sync_window(now: datetime, settings: Settings) -> tuple[datetime, datetime]:
    return now - timedelta(days=settings.sync_window_past_days), now + timedelta(days=settings.sync_window_future_days)


def next_full_reconcile(now: datetime, settings: Settings, rng: random.Random) -> datetime:
    """About one interval away, jittered ±10% so calendars created together do not reconcile together."""
    interval = timedelta(hours=settings.full_reconcile_interval_hours)
    return now + interval * rng.uniform(0.9, 1.1)


def retry_delay(failures: int, rng: random.Random, *, base: float = 5.0, cap: float = 3600.0) -> timedelta:
    """Exponential backoff with full jitter (at least one second)."""
    ceiling = min(cap, base * 2 ** max(0, failures - 1))
    return timedelta(seconds=max(1.0, rng.uniform(0, ceiling)))
