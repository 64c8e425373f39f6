"""make_provider wires each platform to the deployment's endpoints."""

from __future__ import annotations

import httpx
import pytest

from calsync.providers.base import Credentials
from calsync.providers.google import GoogleProvider
from calsync.providers.microsoft import MicrosoftProvider
from calsync.providers.registry import make_provider
from calsync.settings import Settings


async def test_make_provider_uses_settings() -> None:
    settings = Settings(
        google_oauth_token_url="http://emu/google/token",
        google_api_url="http://emu/google/calendar/v3",
        microsoft_login_url="http://emu/microsoft/login",
        microsoft_graph_url="http://emu/microsoft/graph/v1.0",
        provider_timeout_seconds=3,
    )
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"access_token": "a", "expires_in": 60, "refresh_token": "r2"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        google = make_provider("google", settings, client)
        microsoft = make_provider("microsoft", settings, client)
        assert isinstance(google, GoogleProvider) and google.platform == "google"
        assert isinstance(microsoft, MicrosoftProvider) and microsoft.platform == "microsoft"
        creds = Credentials("id", "secret", "refresh")
        await google.refresh_access_token(creds)
        await microsoft.refresh_access_token(creds)
        await google.aclose()
        await microsoft.aclose()
        assert not client.is_closed  # the shared client belongs to the caller
    assert seen == ["http://emu/google/token", "http://emu/microsoft/login/common/oauth2/v2.0/token"]


def test_unknown_platform() -> None:
    with pytest.raises(ValueError, match="unsupported platform"):
        make_provider("GOOGLE", Settings(), httpx.AsyncClient())
