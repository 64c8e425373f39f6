"""Build the provider for a calendar's platform from the deployment's settings."""

from __future__ import annotations

import httpx

from calsync.clock import Clock, system_clock
from calsync.outbound.ssrf import TargetPolicy
from calsync.providers.base import CalendarProvider
from calsync.providers.caldav import ICLOUD_URL, CalDavProvider
from calsync.providers.google import GoogleProvider
from calsync.providers.ics import IcsProvider
from calsync.providers.microsoft import MicrosoftProvider
from calsync.settings import Settings

PLATFORMS = ("google", "microsoft", "caldav", "icloud", "ics")
# Platforms that notify changes (push channels); the others are polled (docs/sync.md, "Checks by need").
PUSH_PLATFORMS = frozenset({"google", "microsoft"})
# Platforms whose server the user names: their calendars are accounts on that server (docs/caldav.md, docs/ics.md).
USER_SERVER_PLATFORMS = frozenset({"caldav", "icloud", "ics"})


def provider_target_policy(settings: Settings) -> TargetPolicy:
    """What the SSRF guard lets the CalDAV and ICS providers reach."""
    return TargetPolicy(allow_http=settings.provider_allow_http, allow_private=settings.provider_allow_private_targets)


def make_provider(
    platform: str, settings: Settings, http_client: httpx.AsyncClient, *, clock: Clock = system_clock
) -> CalendarProvider:
    """The client for `platform` (one of `PLATFORMS`), sharing `http_client`'s connection pool.
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
    if platform in ("caldav", "icloud"):
        return CalDavProvider(
            http_client,
            platform=platform,
            server_url=ICLOUD_URL if platform == "icloud" else None,
            timeout_seconds=settings.provider_timeout_seconds,
            policy=provider_target_policy(settings),
            max_bytes=settings.caldav_max_bytes,
            clock=clock,
        )
    if platform == "ics":
        return IcsProvider(
            http_client,
            timeout_seconds=settings.provider_timeout_seconds,
            policy=provider_target_policy(settings),
            max_bytes=settings.ics_max_bytes,
            clock=clock,
        )
    raise ValueError(f"unsupported platform {platform!r}; expected one of {', '.join(PLATFORMS)}")
