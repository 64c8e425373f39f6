"""Signing in to the dashboard over HTTP, and reading its forms, for the tests that do not drive a browser."""

from __future__ import annotations

import html
import re

import httpx

_HIDDEN = re.compile(r'<input type="hidden" name="(?P<name>[a-z_]+)" value="(?P<value>[^"]*)">')


def hidden_fields(page: str) -> dict[str, str]:
    return {m["name"]: html.unescape(m["value"]) for m in _HIDDEN.finditer(page)}


async def sign_in(client: httpx.AsyncClient, api_key: str) -> str:
    """Signs `client` in (its cookie jar keeps the session); returns the session's CSRF token."""
    form = await client.get("/dashboard/login")
    assert form.status_code == 200, form.text
    fields = hidden_fields(form.text)
    response = await client.post(
        "/dashboard/login", data={"login_token": fields["login_token"], "next": "/dashboard/", "api_key": api_key}
    )
    assert response.status_code == 303, response.text
    overview = await client.get("/dashboard/")
    assert overview.status_code == 200, overview.text
    return hidden_fields(overview.text)["csrf_token"]


def dashboard_client(base_url: str) -> httpx.AsyncClient:
    """No API key header: the dashboard authenticates by its cookie only."""
    return httpx.AsyncClient(base_url=base_url, timeout=30, follow_redirects=False)
