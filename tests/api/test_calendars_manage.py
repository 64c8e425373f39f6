"""List, get, patch and delete calendars."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from calsync.clock import FrozenClock
from calsync.context import AppContext
from calsync.store.models import Calendar, CalendarEvent
from calsync.web.ratelimit import SlidingWindowLimiter
from tests.api.seed import SEED_REQUEST
from tests.support.factories import insert_events
from tests.support.service import Tenant


async def create(tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    data = {k: v for k, v in SEED_REQUEST.items() if k != "deduplication_key"}
    data.update(overrides)
    response = await tenant.client.post("/api/v1/calendars", json=data)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def walk(client: httpx.AsyncClient, url: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    response = await client.get(url, params=params)
    for _ in range(100):
        assert response.status_code == 200, response.text
        page = response.json()
        rows.extend(page["results"])
        if not page["next"]:
            return rows
        response = await client.get(page["next"])
    raise AssertionError("pagination did not end")


async def test_list_is_newest_first_and_paginates_by_25(tenant: Tenant) -> None:
    created = [await create(tenant, deduplication_key=f"k{i}") for i in range(30)]
    first = (await tenant.client.get("/api/v1/calendars")).json()
    assert len(first["results"]) == 25
    assert first["previous"] is None and first["next"].startswith("http://127.0.0.1")
    second = (await tenant.client.get(first["next"])).json()
    assert len(second["results"]) == 5 and second["next"] is None
    assert [c["id"] for c in first["results"] + second["results"]] == [c["id"] for c in reversed(created)]
    back = (await tenant.client.get(second["previous"])).json()
    assert [c["id"] for c in back["results"]] == [c["id"] for c in first["results"]]
    assert back["previous"] is None


async def test_list_filters(tenant: Tenant, context: AppContext) -> None:
    google = await create(tenant, deduplication_key="g")
    microsoft = await create(tenant, deduplication_key="m", platform="microsoft")
    async with context.db.write() as session:
        row = (await session.execute(select(Calendar).where(Calendar.object_id == microsoft["id"]))).scalar_one()
        row.state = "disconnected"

    async def ids(**params: str) -> list[str]:
        return [c["id"] for c in (await tenant.client.get("/api/v1/calendars", params=params)).json()["results"]]

    assert await ids(deduplication_key="g") == [google["id"]]
    assert await ids(deduplication_key="nope") == []
    assert await ids(platform="microsoft") == [microsoft["id"]]
    assert await ids(state="connected") == [google["id"]]
    assert await ids(state="disconnected", platform="microsoft") == [microsoft["id"]]
    bad = await tenant.client.get("/api/v1/calendars", params={"state": "broken"})
    assert bad.status_code == 400 and "state" in bad.json()["error"]


async def test_invalid_cursor_is_404(tenant: Tenant) -> None:
    for cursor in ("garbage", "eyJ4IjoxfQ", "%%%"):
        response = await tenant.client.get("/api/v1/calendars", params={"cursor": cursor})
        assert response.status_code == 404
        assert response.json()["detail"] == "Invalid cursor"


async def test_unknown_calendar_is_404(tenant: Tenant) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        response = await tenant.client.request(method, "/api/v1/calendars/cal_doesnotexist0000", json={})
        assert response.status_code == 404
        assert response.json()["error"] == "Calendar not found"


async def test_patch_merges_credentials_and_schedules_sync(tenant: Tenant, context: AppContext) -> None:
    calendar = await create(tenant, metadata={"a": "1"})
    async with context.db.write() as session:
        row = (await session.execute(select(Calendar).where(Calendar.object_id == calendar["id"]))).scalar_one()
        row.sync_due_at = datetime(2100, 1, 1, tzinfo=UTC)
        row.encrypted_access_token = context.secrets.encrypt(b"cached")
    response = await tenant.client.patch(f"/api/v1/calendars/{calendar['id']}", json={"refresh_token": " new-token "})
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["metadata"] == {"a": "1"}
    assert data["next_sync_at"] == data["updated_at"], "PATCH makes the calendar due now (the reconnect path)"
    async with context.db.read() as session:
        row = (await session.execute(select(Calendar).where(Calendar.object_id == calendar["id"]))).scalar_one()
    credentials = context.secrets.decrypt_json(row.encrypted_credentials)
    assert credentials == {"client_secret": SEED_REQUEST["client_secret"], "refresh_token": "new-token"}
    assert row.encrypted_access_token is None, "a cached access token of the old grant is dropped"


async def test_patch_empty_body_still_schedules_sync(tenant: Tenant) -> None:
    calendar = await create(tenant)
    response = await tenant.client.patch(f"/api/v1/calendars/{calendar['id']}", json={})
    assert response.status_code == 200
    assert response.json()["next_sync_at"] is not None


async def test_patch_metadata_replaces_and_can_clear(tenant: Tenant) -> None:
    calendar = await create(tenant, metadata={"a": "1", "b": "2"})
    path = f"/api/v1/calendars/{calendar['id']}"
    assert (await tenant.client.patch(path, json={"metadata": {"c": "3"}})).json()["metadata"] == {"c": "3"}
    assert (await tenant.client.patch(path, json={"metadata": {}})).json()["metadata"] is None
    assert (await tenant.client.patch(path, json={"metadata": {"d": "4"}})).json()["metadata"] == {"d": "4"}
    assert (await tenant.client.patch(path, json={"metadata": None})).json()["metadata"] is None
    bad = await tenant.client.patch(path, json={"metadata": {"k": 5}})
    assert bad.status_code == 400 and bad.json() == {"metadata": ["Value for key 'k' must be a string"]}


async def test_patch_rejects_immutable_and_blank_fields(tenant: Tenant) -> None:
    calendar = await create(tenant)
    path = f"/api/v1/calendars/{calendar['id']}"
    response = await tenant.client.patch(path, json={"platform": "microsoft", "client_id": "x"})
    assert response.status_code == 400
    assert response.json() == {
        "non_field_errors": [
            "Unexpected field(s): client_id, platform. Allowed fields are: client_secret, metadata, refresh_token"
        ]
    }
    blank = await tenant.client.patch(path, json={"client_secret": " "})
    assert blank.json() == {"client_secret": ["This field may not be blank."]}
    null = await tenant.client.patch(path, json={"refresh_token": None})
    assert null.json() == {"refresh_token": ["This field may not be null."]}
    assert (await tenant.client.get(path)).json()["platform"] == "google"


async def test_delete_is_hard_and_cascades_events(tenant: Tenant, context: AppContext) -> None:
    calendar = await create(tenant)
    keep = await create(tenant)
    await insert_events(context, calendar["id"], 3, start=datetime(2026, 1, 1, tzinfo=UTC))
    await insert_events(context, keep["id"], 2, start=datetime(2026, 1, 1, tzinfo=UTC))
    response = await tenant.client.delete(f"/api/v1/calendars/{calendar['id']}")
    assert response.status_code == 200 and response.content == b""
    assert (await tenant.client.get(f"/api/v1/calendars/{calendar['id']}")).status_code == 404
    async with context.db.read() as session:
        remaining = (await session.execute(select(CalendarEvent.calendar_id))).scalars().all()
    assert len(remaining) == 2
    assert (await tenant.client.delete(f"/api/v1/calendars/{calendar['id']}")).status_code == 404


async def test_create_rate_limit(app: FastAPI, tenant: Tenant, other_tenant: Tenant) -> None:
    clock = FrozenClock()
    app.state.create_limiter = SlidingWindowLimiter(3, clock)
    for _ in range(3):
        assert (await tenant.client.post("/api/v1/calendars", json=_minimal())).status_code == 201
    limited = await tenant.client.post("/api/v1/calendars", json=_minimal())
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "60"
    assert limited.json()["detail"] == "Request was throttled. Expected available in 60 seconds."
    assert (await other_tenant.client.post("/api/v1/calendars", json=_minimal())).status_code == 201, "per project"
    assert (await tenant.client.get("/api/v1/calendars")).status_code == 200, "only POST is limited"
    clock.advance(seconds=60)
    assert (await tenant.client.post("/api/v1/calendars", json=_minimal())).status_code == 201


def _minimal() -> dict[str, Any]:
    return {k: v for k, v in SEED_REQUEST.items() if k != "deduplication_key"}
