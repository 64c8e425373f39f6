"""Prometheus metrics of the sync engine (scraped at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

SYNCS = Counter("calsync_syncs_total", "Calendar syncs by platform, mode and outcome", ["platform", "mode", "outcome"])
TOKEN_REFRESHES = Counter("calsync_token_refreshes_total", "OAuth access-token refreshes", ["platform"])
SYNC_TOKEN_EXPIRED = Counter(
    "calsync_sync_token_expired_total", "Incremental cursors the platform refused (full sync followed)", ["platform"]
)
DRIFT = Counter(
    "calsync_reconcile_drift_events_total",
    "Events a scheduled full reconcile changed, i.e. that incremental sync had missed (should stay 0)",
    ["platform"],
)
# Up to 10 minutes: an initial sync of a large calendar takes tens of seconds.
SYNC_SECONDS = Histogram(
    "calsync_sync_duration_seconds",
    "Wall time of one calendar sync",
    ["platform"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0),
)
STATE_CHANGES = Counter(
    "calsync_calendar_state_changes_total", "Calendars that became connected or disconnected", ["state"]
)
PAGES_WRITTEN = Counter("calsync_sync_pages_written_total", "Batches of platform changes written", ["platform"])
PUSH_NOTIFICATIONS = Counter(
    "calsync_push_notifications_total", "Platform push notifications received", ["platform", "outcome"]
)
CHANGE_CLOCK_WAIT = Histogram(
    "calsync_change_clock_wait_seconds",
    "Time a sync transaction took to take the change clock (SQLite: the project row; PostgreSQL: registering as a "
    "writer and reading the stamp and numbers, which waits for no other writer)",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
CHANGE_CLOCK_HELD = Histogram(
    "calsync_change_clock_held_seconds",
    "Time from taking the change clock to the commit. SQLite: the project row is held, and the rate of the sum "
    "near 1 means one project's writes are at their ceiling. PostgreSQL: the time readers by stamp may wait "
    "behind the transaction (calsync.store.change_horizon); holds overlap and bound nothing",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
