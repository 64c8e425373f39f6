"""Build the provider for a calendar's platform from the deployment's settings."""

from __future__ import annotations

import httpx

from calsync.clock import Clock, system_clock
from calsync.providers.base import CalendarProvider
from calsync.providers.google import GoogleProvider
from calsync.providers.microsoft import MicrosoftProvider
from calsync.settings import Settings

PLATFORMS = ("google", "microsoft")


def make_provider(
    platform: str, settings: Settings, http_client: httpx.AsyncClient, *, clock: Clock = system_clock
) -> CalendarProvider:
    """The client for `platform` (`google` or `microsoft`), sharing `http_client`'s connection pool.
    Raises ValueError for any other platform."""
    if platform == "google":
        return GoogleProvider(
            http_client,
            token_url=settings.google_oauth_token_url,
            api_url=settings.google_api_url,
            timeout_seconds=settings.provider_timeout_seconds,
            clock=clock,
        )
    if platform == "microsoft":
        return MicrosoftProvider(
            http_client,
            login_url=settings.microsoft_login_url,
            graph_url=settings.microsoft_graph_url,
            timeout_seconds=settings.provider_timeout_seconds,
            clock=clock,
        )
    raise ValueError(f"unsupported platform {platform!r}; expected one of {', '.join(PLATFORMS)}")
