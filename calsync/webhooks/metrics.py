"""Prometheus metrics of customer webhooks (the outbox's size and age are gauges read at scrape time:
calsync.store.queries.health)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ENQUEUED = Counter("calsync_webhook_deliveries_enqueued_total", "Webhook deliveries written to the outbox", ["trigger"])
ATTEMPTS = Counter(
    "calsync_webhook_attempts_total",
    "Delivery attempts by what followed: succeeded, pending (a retry is scheduled), failed (gave up), lease_lost",
    ["outcome"],
)
ATTEMPT_SECONDS = Histogram("calsync_webhook_attempt_duration_seconds", "Wall time of one delivery attempt")
