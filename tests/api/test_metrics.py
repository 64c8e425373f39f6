"""`GET /metrics`: the service gauges read from the database at scrape time, and the optional bearer token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from calsync.context import AppContext
from calsync.meetings.queue import enqueue
from calsync.runtime import build_app
from calsync.settings import Settings
from calsync.store.models import Calendar
from calsync.sync.apply import apply_page
from tests.api.seed import SEED_REQUEST
from tests.store.test_change_horizon import event
from tests.support.service import Tenant, serve_app


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_report_calendars_by_state_and_the_webhook_outbox(tenant: Tenant, api_url: str) -> None:
    for index in range(3):
        created = await tenant.client.post("/api/v1/calendars", json={**SEED_REQUEST, "deduplication_key": f"m{index}"})
        assert created.status_code == 201
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": "Bearer scrape-secret"}) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    found = samples(response.text)
    assert found[("calsync_calendars", (("platform", "google"), ("state", "connected")))] == 3
    assert found[("calsync_calendars_push", (("state", "none"),))] == 3
    assert found[("calsync_webhook_outbox_queued", ())] == 0
    assert found[("calsync_calendars_overdue", ())] == 0, "due now, not yet a backlog"
    assert found[("calsync_meetings_backlog", ())] == 0


async def test_metrics_report_the_meetings_backlog(tenant: Tenant, api_url: str, context: AppContext) -> None:
    """Queued meetings and event changes the scan has not read yet: what an operator watches after a backfill."""
    created = await tenant.client.post("/api/v1/calendars", json={**SEED_REQUEST, "deduplication_key": "backlog"})
    assert created.status_code == 201
    async with context.db.write() as session:
        calendar = (
            await session.execute(select(Calendar).where(Calendar.object_id == created.json()["id"]))
        ).scalar_one()
        await apply_page(session, calendar, [event(f"e{index}") for index in range(3)], [], context.clock())
        await enqueue(session, tenant.project_id, ["m-a", "m-b"], context.clock())
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": "Bearer scrape-secret"}) as client:
        response = await client.get("/metrics")
    assert samples(response.text)[("calsync_meetings_backlog", ())] == 2 + 3


@pytest.fixture
def settings(database_url: str, tmp_path: Path, encryption_key: str) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        encryption_keys=encryption_key,
        metrics_token="scrape-secret",
    )


@pytest.fixture
async def protected_url(context: AppContext) -> AsyncIterator[str]:
    app: FastAPI = build_app(context)
    async with serve_app(app) as url:
        yield url


async def test_metrics_token_is_required_when_set(protected_url: str) -> None:
    async with httpx.AsyncClient(base_url=protected_url) as client:
        missing = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = await client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert missing.status_code == 401 and wrong.status_code == 401
    assert right.status_code == 200 and "calsync_calendars" in right.text
