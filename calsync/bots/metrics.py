"""Prometheus metrics of bots (scraped at /metrics of each process that dispatches)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DISPATCHED = Counter(
    "calsync_bots_dispatched_total", "Bots dispatched (told to launch), or failed at dispatch", ["state"]
)
# How late after its dispatch time a bot was dispatched (the dispatch transaction's clock, just before its commit).
DISPATCH_LAG = Histogram(
    "calsync_bot_dispatch_lag_seconds",
    "Seconds from a bot's dispatch time to its dispatch",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
