"""The dashboard's overview and list pages and the API's list endpoints stay bound by an index among 100,000
calendars (with as many push channels, bots, webhook deliveries and queued evaluations), 300,000 events and
150,000 meetings (PostgreSQL; the size and the load in tests/store/plans.py).

Each page is requested over a real socket (the API with the tenant's key, the dashboard signed in through its
form), its statements captured as sent and `EXPLAIN`ed with their parameters: none may read a large table
sequentially, and none of the reads may read more than a few pages' worth of rows (the overview's counts
included: above a size they are estimated, calsync.dashboard.overview_counts)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Mount

from calsync.context import AppContext
from calsync.dashboard.overview_cache import OverviewCache
from tests.dashboard.support import dashboard_client, sign_in
from tests.store.plans import ON_POSTGRES, analyze, captured, large_reads, load_calendars, load_events, sequential_scans
from tests.support.service import Tenant

pytestmark = [pytest.mark.timeout(600), ON_POSTGRES]

DASHBOARD_PAGES = [
    ("/dashboard/", {}),
    ("/dashboard/calendars", {}),
    ("/dashboard/calendars", {"state": "connected", "platform": "google"}),
    ("/dashboard/calendars", {"attention": "1"}),
    ("/dashboard/calendars/cal_plan500", {}),
    ("/dashboard/events/evt_plan500", {}),
    ("/dashboard/bots", {}),
    ("/dashboard/webhooks", {}),
    ("/dashboard/webhooks/webhook_plan", {}),
    ("/dashboard/meetings", {}),
    ("/dashboard/rules", {}),
]
API_LISTS = [
    ("/api/v1/calendars", {}),
    ("/api/v1/calendars", {"platform": "microsoft"}),
    ("/api/v1/calendar_events", {}),
    ("/api/v1/calendar_events", {"ordering": "start_time"}),
    ("/api/v1/calendar_events", {"updated_at_gte": "2000-01-01T00:00:00Z"}),
    ("/api/v1/calendar_events", {"start_time_gte": "2000-01-01T00:00:00Z", "is_deleted": "false"}),
    ("/api/v1/calendar_events", {"calendar_id": "cal_plan500", "ordering": "start_time"}),
    ("/api/v1/bots", {}),
    ("/api/v1/webhooks", {}),
    ("/api/v1/webhooks/webhook_plan/deliveries", {}),
    ("/api/v1/meetings", {}),
    ("/api/v1/bot_rules", {}),
]


async def checked(context: AppContext, client: httpx.AsyncClient, pages: list[tuple[str, dict[str, str]]]) -> list[str]:
    """What each page does that grows with the tables: its sequential scans and its large reads."""
    found: list[str] = []
    for path, params in pages:
        with captured(context) as statements:
            response = await client.get(path, params=params)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
        assert statements, path
        found += [f"{path} {params}: seq scan of {scan}" for scan in await sequential_scans(context, statements)]
        found += [
            f"{path} {params}: {read.rows} rows by {read.statement}" for read in await large_reads(context, statements)
        ]
    return found


def forget_overview_counts(app: FastAPI) -> None:
    """Signing in showed the overview: the next load counts again rather than showing what it kept."""
    [dashboard] = [route.app for route in app.routes if isinstance(route, Mount) and route.path == "/dashboard"]
    dashboard.state.dashboard.overview_cache = OverviewCache()


async def test_the_dashboard_pages_and_the_api_lists_use_indexes(
    context: AppContext, tenant: Tenant, database_url: str, app: FastAPI
) -> None:
    now = datetime.now(UTC)
    await load_calendars(context, tenant.project_id, now)
    await load_events(context, tenant.project_id, now)
    await analyze(context)
    found = await checked(context, tenant.client, API_LISTS)
    async with dashboard_client(str(tenant.client.base_url)) as client:
        await sign_in(client, tenant.api_key)
        forget_overview_counts(app)
        found += await checked(context, client, DASHBOARD_PAGES)
        overview = (await client.get("/dashboard/")).text
    assert found == [], "\n".join(found)
    assert "estimated from a sample" in overview and "about 100,000</span> calendars" in overview
    assert "about 10</span> need attention" in overview, "counted through their index, not estimated"
