"""Malformed requests: always a clear JSON error with the right status, never a 500 or a traceback."""

from __future__ import annotations

import httpx

from tests.api.seed import SEED_REQUEST
from tests.support.service import Tenant


async def test_malformed_json(tenant: Tenant) -> None:
    response = await tenant.client.post(
        "/api/v1/calendars", content=b'{"platform": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")


async def test_wrong_content_type(tenant: Tenant) -> None:
    response = await tenant.client.post(
        "/api/v1/calendars", content=b"platform=google", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["detail"] == 'Unsupported media type "text/plain" in request.'


async def test_json_array_instead_of_object(tenant: Tenant) -> None:
    for payload, name in (([SEED_REQUEST], "list"), ("text", "str"), (5, "int")):
        response = await tenant.client.post("/api/v1/calendars", json=payload)
        assert response.status_code == 400
        assert response.json() == {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {name}."]}


async def test_huge_bodies_are_413(tenant: Tenant) -> None:
    huge = b'{"client_id": "' + b"x" * 2_000_000 + b'"}'
    response = await tenant.client.post("/api/v1/calendars", content=huge, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"

    async def chunks():  # no Content-Length: the limit must hold while streaming too
        for _ in range(40):
            yield b"x" * 65536

    streamed = await tenant.client.post(
        "/api/v1/calendars", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413


async def test_unknown_route_and_method(tenant: Tenant) -> None:
    assert (await tenant.client.get("/api/v1/nothing")).json() == {"detail": "Not found."}
    response = await tenant.client.put("/api/v1/calendars")
    assert response.status_code == 405 and response.json()["detail"] == "Method not allowed."


async def test_health_and_ready(api_url: str) -> None:
    async with httpx.AsyncClient(base_url=api_url) as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        ready = await client.get("/ready")
        assert ready.status_code == 200 and ready.json()["database"] == "ok"


async def test_openapi_documents_the_seed(api_url: str) -> None:
    async with httpx.AsyncClient(base_url=api_url) as client:
        spec = (await client.get("/openapi.json")).json()
        docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    create = spec["paths"]["/api/v1/calendars"]["post"]
    assert create["operationId"] == "Create Calendar"
    schema = spec["components"]["schemas"]["CreateCalendarRequest"]
    assert schema["examples"][0] == SEED_REQUEST
    # Which credentials are required depends on the platform (Google's and Microsoft's: the anchor's three).
    assert schema["required"] == ["platform"]
    by_platform = {rule["if"]["properties"]["platform"]["const"]: rule["then"]["required"] for rule in schema["allOf"]}
    assert by_platform["google"] == by_platform["microsoft"] == ["client_id", "client_secret", "refresh_token"]
    # The key is a security scheme (client generators send it), not a header parameter with a placeholder.
    assert create["security"] == [{"ApiKey": []}] and not create["parameters"]
    assert spec["components"]["securitySchemes"]["ApiKey"]["name"] == "Authorization"
