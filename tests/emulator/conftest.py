"""The emulator suite: the session's emulator and receiver (tests/conftest.py), reset before every test, a plain
HTTP client, and helpers that get an access token and walk listing pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from calsync_emulator.client import EmulatorControl
from calsync_emulator.testing import RunningEmulator


@pytest.fixture
async def control(emulator: RunningEmulator) -> AsyncIterator[EmulatorControl]:
    async with emulator.control() as client:
        await client.reset()
        yield client
        await client.wait_notifications(5)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=15) as client:
        yield client


async def google_token(http: httpx.AsyncClient, emulator: RunningEmulator, account: dict[str, Any]) -> dict[str, str]:
    response = await http.post(
        emulator.google_token_url,
        data={
            "grant_type": "refresh_token",
            "client_id": account["client_id"],
            "client_secret": account["client_secret"],
            "refresh_token": account["refresh_token"],
        },
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def ms_token(http: httpx.AsyncClient, emulator: RunningEmulator, account: dict[str, Any]) -> dict[str, str]:
    response = await http.post(
        f"{emulator.microsoft_login_url}/common/oauth2/v2.0/token",
        data={
            "grant_type": "refresh_token",
            "client_id": account["client_id"],
            "client_secret": account["client_secret"],
            "refresh_token": account["refresh_token"],
            "scope": "offline_access https://graph.microsoft.com/Calendars.Read",
        },
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def google_pages(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], params: dict[str, str], *, max_pages: int = 50
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Follow nextPageToken to the last page (bounded); returns (items, pages)."""
    items: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    params = dict(params)
    for _ in range(max_pages):
        response = await http.get(url, params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        items.extend(page["items"])
        if "nextPageToken" not in page:
            return items, pages
        params["pageToken"] = page["nextPageToken"]
    raise AssertionError("too many pages")


async def graph_pages(
    http: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    params: dict[str, str] | None = None,
    *,
    max_pages: int = 50,
) -> tuple[list[dict[str, Any]], list[httpx.Response]]:
    """Follow @odata.nextLink to the deltaLink/last page (bounded); returns (items, responses)."""
    items: list[dict[str, Any]] = []
    responses: list[httpx.Response] = []
    next_url: str | None = url
    next_params = params
    for _ in range(max_pages):
        assert next_url is not None
        response = await http.get(next_url, params=next_params, headers=headers)
        assert response.status_code == 200, response.text
        responses.append(response)
        body = response.json()
        items.extend(body["value"])
        next_url, next_params = body.get("@odata.nextLink"), None
        if next_url is None:
            return items, responses
    raise AssertionError("too many pages")
