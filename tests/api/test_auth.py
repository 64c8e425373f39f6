"""Authentication (Attendee's 401 bodies) and project isolation."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select

from calsync.api.auth import Caller
from calsync.api.key_cache import ACCEPTED_SECONDS, REFUSED_SECONDS, KeyCache
from calsync.context import AppContext
from calsync.security.api_keys import hash_api_key
from calsync.store.models import ApiKey
from calsync.store.queries import projects as project_queries
from tests.api.seed import SEED_REQUEST
from tests.support.service import Tenant

PATHS = [
    ("GET", "/api/v1/calendars"),
    ("POST", "/api/v1/calendars"),
    ("GET", "/api/v1/calendars/cal_0000000000000000"),
    ("PATCH", "/api/v1/calendars/cal_0000000000000000"),
    ("DELETE", "/api/v1/calendars/cal_0000000000000000"),
    ("GET", "/api/v1/calendar_events"),
    ("GET", "/api/v1/calendar_events/evt_0000000000000000"),
]


@pytest.mark.parametrize(("method", "path"), PATHS)
@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (None, "Missing Authorization header"),
        ("Token", "Invalid Authorization header. Should have this format: Token <api_key>"),
        ("Basic abc", "Invalid Authorization header. Should have this format: Token <api_key>"),
        ("Token a b", "Invalid Authorization header. Should have this format: Token <api_key>"),
        ("Token wrongwrongwrongwrongwrongwrong", "Invalid or disabled API key"),
    ],
)
async def test_unauthenticated_requests_get_401(api_url: str, method: str, path: str, header: str | None, detail: str):
    headers = {"Authorization": header} if header else {}
    async with httpx.AsyncClient(base_url=api_url) as client:
        response = await client.request(method, path, headers=headers, json={})
    assert response.status_code == 401
    assert response.json()["detail"] == detail
    assert response.headers["www-authenticate"] == "Token"


async def test_bearer_and_lowercase_scheme_accepted(tenant: Tenant, api_url: str) -> None:
    for scheme in ("Bearer", "token"):
        async with httpx.AsyncClient(base_url=api_url) as client:
            response = await client.get("/api/v1/calendars", headers={"Authorization": f"{scheme} {tenant.api_key}"})
        assert response.status_code == 200


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_revoked_key_stops_working_within_the_cache_bound(tenant: Tenant, context: AppContext, app: FastAPI):
    clock = ManualClock()
    app.state.api_key_cache = KeyCache[Caller](clock=clock)
    assert (await tenant.client.get("/api/v1/calendars")).status_code == 200
    async with context.db.write() as session:
        key = (await session.execute(select(ApiKey).where(ApiKey.project_id == tenant.project_id))).scalar_one()
        await project_queries.revoke_api_key(session, key.object_id, context.clock())
    clock.now += ACCEPTED_SECONDS - 0.1
    assert (await tenant.client.get("/api/v1/calendars")).status_code == 200
    clock.now += 0.1
    response = await tenant.client.get("/api/v1/calendars")
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid or disabled API key"


async def test_deleted_key_stops_working_within_the_cache_bound(tenant: Tenant, context: AppContext, app: FastAPI):
    clock = ManualClock()
    app.state.api_key_cache = KeyCache[Caller](clock=clock)
    assert (await tenant.client.get("/api/v1/calendars")).status_code == 200
    async with context.db.write() as session:
        await session.execute(delete(ApiKey).where(ApiKey.project_id == tenant.project_id))
    clock.now += ACCEPTED_SECONDS
    assert (await tenant.client.get("/api/v1/calendars")).status_code == 401


async def test_refused_key_is_remembered_briefly(tenant: Tenant, context: AppContext, app: FastAPI, api_url: str):
    clock = ManualClock()
    app.state.api_key_cache = cache = KeyCache[Caller](clock=clock)
    async with context.db.write() as session:
        project = await project_queries.create_project(session, "late", context.clock())
    unknown = "a-key-that-does-not-exist-yet-00000000"
    headers = {"Authorization": f"Token {unknown}"}
    async with httpx.AsyncClient(base_url=api_url, headers=headers) as client:
        assert (await client.get("/api/v1/calendars")).status_code == 401
        assert cache.lookup(hash_api_key(unknown)) == (True, None)
        assert unknown not in str(cache._entries)  # the digest is the key of the map, never the API key
        # A key that appears a moment after it was refused works once the refusal expires.
        async with context.db.write() as session:
            row = (await project_queries.create_api_key(session, project, "late", context.clock())).row
            row.key_hash = hash_api_key(unknown)
        assert (await client.get("/api/v1/calendars")).status_code == 401
        clock.now += REFUSED_SECONDS
        assert (await client.get("/api/v1/calendars")).status_code == 200


def test_key_cache_is_bounded_and_expires() -> None:
    clock = ManualClock()
    cache = KeyCache[str](max_entries=3, clock=clock)
    for digest in ("a", "b", "c", "d"):
        cache.store(digest, digest.upper())
    assert len(cache) == 3 and cache.lookup("a") == (False, None) and cache.lookup("d") == (True, "D")
    cache.store("x", None)
    clock.now += REFUSED_SECONDS
    assert cache.lookup("x") == (False, None) and cache.lookup("d") == (True, "D")
    clock.now += ACCEPTED_SECONDS
    assert cache.lookup("d") == (False, None)


async def test_keys_are_stored_hashed(tenant: Tenant, context: AppContext) -> None:
    async with context.db.read() as session:
        stored = (await session.execute(select(ApiKey.key_hash, ApiKey.key_prefix))).all()
    assert all(tenant.api_key not in row[0] for row in stored)
    assert all(len(row[1]) == 4 for row in stored)


async def test_other_projects_calendar_is_404(tenant: Tenant, other_tenant: Tenant) -> None:
    calendar = (await tenant.client.post("/api/v1/calendars", json=SEED_REQUEST)).json()
    path = f"/api/v1/calendars/{calendar['id']}"
    for response in (
        await other_tenant.client.get(path),
        await other_tenant.client.patch(path, json={"metadata": {"a": "b"}}),
        await other_tenant.client.delete(path),
    ):
        assert response.status_code == 404
        assert response.json()["error"] == "Calendar not found"
    assert (await other_tenant.client.get("/api/v1/calendars")).json()["results"] == []
    events = await other_tenant.client.get("/api/v1/calendar_events", params={"calendar_id": calendar["id"]})
    assert events.json()["results"] == []
    still_there = await tenant.client.get(path)
    assert still_there.status_code == 200 and still_there.json()["metadata"] == SEED_REQUEST["metadata"]
