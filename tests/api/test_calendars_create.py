"""POST /api/v1/calendars: the seed's request, every validation rule of Attendee's, deduplication."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from tests.api.seed import SEED_REQUEST, SEED_RESPONSE_KEYS
from tests.support.service import Tenant

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def body(**overrides: Any) -> dict[str, Any]:
    data = {k: v for k, v in SEED_REQUEST.items() if k != "deduplication_key"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not ...}


async def test_seed_request_returns_seed_shape(tenant: Tenant) -> None:
    response = await tenant.client.post("/api/v1/calendars", json=SEED_REQUEST)
    assert response.status_code == 201, response.text
    data = response.json()
    for key in SEED_RESPONSE_KEYS:
        assert key in data
    assert re.fullmatch(r"cal_[A-Za-z0-9]{16}", data["id"])
    assert data["platform"] == "google"
    assert data["state"] == "connected"
    assert data["metadata"] == {"tenant_id": "1234567890"}
    assert data["deduplication_key"] == "user-abcd"
    assert data["connection_failure_data"] is None
    assert TIMESTAMP.match(data["created_at"]) and TIMESTAMP.match(data["updated_at"])
    assert data["next_sync_at"] == data["created_at"], "a new calendar is due for its first sync at once"
    assert "client_secret" not in response.text and SEED_REQUEST["refresh_token"] not in response.text


async def test_created_calendar_is_readable(tenant: Tenant) -> None:
    created = (await tenant.client.post("/api/v1/calendars", json=SEED_REQUEST)).json()
    fetched = await tenant.client.get(f"/api/v1/calendars/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created


@pytest.mark.parametrize("field", ["client_id", "client_secret", "refresh_token", "platform"])
async def test_required_fields(tenant: Tenant, field: str) -> None:
    response = await tenant.client.post("/api/v1/calendars", json=body(**{field: ...}))
    assert response.status_code == 400
    assert response.json() == {field: ["This field is required."]}


@pytest.mark.parametrize("field", ["client_id", "client_secret", "refresh_token", "deduplication_key", "platform_uuid"])
@pytest.mark.parametrize("value", ["", "   ", "\t\n"])
async def test_blank_strings_rejected(tenant: Tenant, field: str, value: str) -> None:
    response = await tenant.client.post("/api/v1/calendars", json=body(**{field: value}))
    assert response.status_code == 400
    assert response.json() == {field: ["This field may not be blank."]}


@pytest.mark.parametrize("field", ["client_id", "deduplication_key", "platform_uuid", "metadata"])
async def test_null_rejected(tenant: Tenant, field: str) -> None:
    response = await tenant.client.post("/api/v1/calendars", json=body(**{field: None}))
    assert response.status_code == 400
    assert response.json() == {field: ["This field may not be null."]}


async def test_whitespace_is_trimmed_and_numbers_coerced(tenant: Tenant) -> None:
    response = await tenant.client.post(
        "/api/v1/calendars", json=body(client_id=12345, deduplication_key="  key-1  ", platform_uuid=" c@group ")
    )
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["client_id"] == "12345"
    assert data["deduplication_key"] == "key-1"
    assert data["platform_uuid"] == "c@group"


@pytest.mark.parametrize("value", [True, {"a": 1}, ["x"]])
async def test_non_string_values_rejected(tenant: Tenant, value: Any) -> None:
    response = await tenant.client.post("/api/v1/calendars", json=body(client_id=value))
    assert response.status_code == 400
    assert response.json() == {"client_id": ["Not a valid string."]}


@pytest.mark.parametrize(("value", "shown"), [("GOOGLE", "GOOGLE"), ("outlook", "outlook"), (3, "3")])
async def test_platform_enum(tenant: Tenant, value: Any, shown: str) -> None:
    response = await tenant.client.post("/api/v1/calendars", json=body(platform=value))
    assert response.status_code == 400
    assert response.json() == {"platform": [f'"{shown}" is not a valid choice.']}


async def test_microsoft_platform_accepted(tenant: Tenant) -> None:
    response = await tenant.client.post("/api/v1/calendars", json=body(platform="microsoft"))
    assert response.status_code == 201
    assert response.json()["platform"] == "microsoft"


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (["a"], "Metadata must be an object not an array or other type"),
        ("text", "Metadata must be an object not an array or other type"),
        ({}, "Metadata must have at least one key"),
        ({"k": 1}, "Value for key 'k' must be a string"),
        ({"k": "v" * 1000}, "Metadata must be less than 1000 characters"),
    ],
)
async def test_metadata_rules(tenant: Tenant, metadata: Any, message: str) -> None:
    response = await tenant.client.post("/api/v1/calendars", json=body(metadata=metadata))
    assert response.status_code == 400
    assert response.json() == {"metadata": [message]}


async def test_unknown_fields_rejected_after_valid_fields(tenant: Tenant) -> None:
    response = await tenant.client.post("/api/v1/calendars", json=body(zeta=1, alpha=2))
    assert response.status_code == 400
    assert response.json() == {
        "non_field_errors": [
            "Unexpected field(s): alpha, zeta. Allowed fields are: client_id, client_secret, deduplication_key, "
            "metadata, platform, platform_uuid, refresh_token"
        ]
    }
    # Field errors come first, as in Attendee: the unknown-field check runs only once fields are valid.
    response = await tenant.client.post("/api/v1/calendars", json=body(zeta=1, client_id=""))
    assert response.json() == {"client_id": ["This field may not be blank."]}


@pytest.mark.parametrize(("field", "limit"), [("client_id", 255), ("deduplication_key", 1024), ("platform_uuid", 1024)])
async def test_over_long_values_get_clear_400(tenant: Tenant, field: str, limit: int) -> None:
    response = await tenant.client.post("/api/v1/calendars", json=body(**{field: "x" * (limit + 1)}))
    assert response.status_code == 400
    assert response.json() == {field: [f"Ensure this field has no more than {limit} characters."]}
    ok = await tenant.client.post("/api/v1/calendars", json=body(**{field: "y" * limit}))
    assert ok.status_code == 201


async def test_duplicate_deduplication_key(tenant: Tenant, other_tenant: Tenant) -> None:
    first = await tenant.client.post("/api/v1/calendars", json=SEED_REQUEST)
    assert first.status_code == 201
    second = await tenant.client.post("/api/v1/calendars", json=SEED_REQUEST)
    assert second.status_code == 400
    assert second.json() == {
        "deduplication_key": ["A calendar with this deduplication key already exists in this project."]
    }
    elsewhere = await other_tenant.client.post("/api/v1/calendars", json=SEED_REQUEST)
    assert elsewhere.status_code == 201, "the same key in another project is allowed"
    listed = (await tenant.client.get("/api/v1/calendars")).json()["results"]
    assert [c["id"] for c in listed] == [first.json()["id"]], "the failed create stored nothing"


async def test_calendars_without_key_never_collide(tenant: Tenant) -> None:
    for _ in range(3):
        assert (await tenant.client.post("/api/v1/calendars", json=body())).status_code == 201


async def test_concurrent_creates_with_one_key_exactly_one_wins(tenant: Tenant, api_url: str) -> None:
    async def create() -> httpx.Response:
        async with httpx.AsyncClient(base_url=api_url, headers=tenant.client.headers, timeout=30) as client:
            return await client.post("/api/v1/calendars", json=body(deduplication_key="race"))

    responses = await asyncio.gather(*(create() for _ in range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [400] * 7, [r.text for r in responses]
    listed = (await tenant.client.get("/api/v1/calendars", params={"deduplication_key": "race"})).json()
    assert len(listed["results"]) == 1
