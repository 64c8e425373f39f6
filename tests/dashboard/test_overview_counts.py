"""The overview's counts: exact in a small project on both databases, shown as "about N" when estimated (the
estimate itself, at 100,000 calendars on PostgreSQL, is checked by tests/store/test_page_plans.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from calsync.context import AppContext
from calsync.dashboard import overview_counts, queries
from calsync.dashboard.queries import CalendarCounts
from calsync.store.models import Calendar
from tests.support.service import Tenant

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_estimates_are_shown_as_about_to_three_significant_digits() -> None:
    assert [queries.three_digits(value) for value in (12, 999, 1000, 99_873, 100_033)] == [
        12,
        999,
        1000,
        99_900,
        100_000,
    ]
    estimated = CalendarCounts(by_platform_state={("google", "connected"): 50_040, ("microsoft", "connected"): 49_993})
    estimated.estimated = True
    assert estimated.shown(estimated.count()) == "about 100,000", "the total is rounded, not its parts summed"
    assert CalendarCounts().shown(1234) == "1234"


async def test_a_project_below_the_threshold_is_counted_exactly(
    context: AppContext, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob = context.secrets.encrypt_json({"client_secret": "s", "refresh_token": "r"})
    rows = [
        {
            "object_id": f"cal_count{i}",
            "project_id": tenant.project_id,
            "platform": "google" if i % 2 else "microsoft",
            "state": "disconnected" if i == 3 else "connected",
            "client_id": "client",
            "encrypted_credentials": blob,
            "created_at": NOW,
            "updated_at": NOW,
            "consecutive_failures": 0,
            "push_state": "active",
            "last_attempted_sync_at": NOW,
            "last_successful_sync_at": NOW,
        }
        for i in range(6)
    ]
    async with context.db.write() as session:
        await session.execute(insert(Calendar), rows)
    async with context.db.read() as session:
        exact = await queries.calendar_overview(session, tenant.project_id, NOW)
        below = await overview_counts.calendar_overview(session, tenant.project_id, NOW)
        # Above the threshold a table too small to sample (or never analysed) is still counted exactly.
        monkeypatch.setattr(overview_counts, "EXACT_UP_TO", 2)
        above = await overview_counts.calendar_overview(session, tenant.project_id, NOW)
    assert below == exact and above == exact
    counts, _ = exact
    assert not counts.estimated and counts.count() == 6 and counts.attention == 1
