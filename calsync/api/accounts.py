"""Connecting an account on a server the user names (CalDAV, iCloud, ICS): what is stored for each platform, the
URL checks of the SSRF guard, and one real request that proves the credentials before anything is stored
(docs/caldav.md, docs/ics.md). Google and Microsoft are stored as they are sent and checked by the first sync."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from fastapi import Request

from calsync.context import AppContext
from calsync.outbound.ssrf import validate_webhook_url
from calsync.providers.base import Credentials, ErrorKind, ProviderError
from calsync.providers.ics import FEED_ID, feed_url
from calsync.providers.registry import USER_SERVER_PLATFORMS, make_provider
from calsync.store.queries.calendars import account_key
from calsync.web.errors import ApiError, field_errors


@dataclass(frozen=True)
class Connection:
    """What a calendar stores: `client_id` is shown in responses, `credentials` are stored encrypted."""

    platform: str
    credentials: Credentials

    @property
    def account_key(self) -> str:
        # Calendars of one account (one feed host for ICS) share a key, hence the engine's per-account limit.
        return account_key(self.platform, self.credentials.client_id, self.credentials.refresh_token)

    @property
    def secrets(self) -> dict[str, str]:
        return {"client_secret": self.credentials.client_secret, "refresh_token": self.credentials.refresh_token}


def feed_host(url: str) -> str:
    """The only part of a feed address that may be shown: the rest of it is the secret."""
    return (urlsplit(feed_url(url)).hostname or "").lower()


def connection(platform: str, *, username: str, password: str, server: str) -> Connection:
    """`server`: CalDAV's server URL (empty for iCloud's preset) or the ICS feed's URL."""
    if platform == "ics":
        # The feed's host stands for the account: syncs of feeds on one host take turns (a per-server limit).
        return Connection(platform, Credentials(client_id=feed_host(server), client_secret="", refresh_token=server))
    return Connection(platform, Credentials(client_id=username, client_secret=password, refresh_token=server))


def server_field(platform: str) -> str:
    return "url" if platform == "ics" else "server_url"


def check_url(context: AppContext, platform: str, url: str) -> None:
    """The guard's synchronous checks (scheme, credentials in the URL, literal addresses); names are checked on
    the addresses they resolve to when the connection is verified."""
    settings = context.settings
    problem = validate_webhook_url(
        feed_url(url) if platform == "ics" else url,
        settings.provider_allow_http,
        allow_private=settings.provider_allow_private_targets,
    )
    if problem is not None:
        raise field_errors({server_field(platform): [problem]})


def provider_http(request: Request, context: AppContext) -> httpx.AsyncClient:
    """The API process's client for platform calls, shared with the platform calendars route."""
    client: httpx.AsyncClient | None = getattr(request.app.state, "provider_http", None)
    if client is None:
        client = httpx.AsyncClient(timeout=context.settings.provider_timeout_seconds, trust_env=False)
        request.app.state.provider_http = client
    return client


def _refusal(platform: str, exc: ProviderError) -> ApiError:
    """The server's refusal as the API says it: throttling is a 429 and a failing server a 502; everything else
    is the input's fault, a 400 on the field to fix."""
    if exc.kind is ErrorKind.THROTTLED:
        return ApiError(
            429,
            {"detail": exc.message, "code": "throttled"},
            headers={"Retry-After": str(max(1, int(exc.retry_after or 30)))},
        )
    if exc.kind is ErrorKind.TRANSIENT:
        return ApiError(502, {"error": exc.message, "code": exc.code or "server_error"})
    if exc.kind is ErrorKind.GRANT_REVOKED and platform != "ics" and exc.status in (401, 403):
        return field_errors({"password": [exc.message]})
    return field_errors({server_field(platform): [exc.message]})


async def verify(
    context: AppContext, http: httpx.AsyncClient, connection: Connection, platform_uuid: str | None
) -> None:
    """One real exchange with the server (CalDAV: discovery, which proves the password; ICS: the feed's first
    fetch), and, when a collection is named, that it is one of the account's event calendars."""
    if connection.platform not in USER_SERVER_PLATFORMS:
        return
    provider = make_provider(connection.platform, context.settings, http, clock=context.clock)
    try:
        grant = await provider.refresh_access_token(connection.credentials)
        if connection.platform == "ics" or platform_uuid is not None:
            found = await provider.list_calendars(grant.access_token)
        else:
            return
    except ProviderError as exc:
        raise _refusal(connection.platform, exc) from None
    if platform_uuid is not None and platform_uuid not in {item.id for item in found}:
        expected = (
            f'Leave it out or give "{FEED_ID}".'
            if connection.platform == "ics"
            else ("Give a collection's address as GET /api/v1/calendars/{id}/platform_calendars lists them.")
        )
        raise field_errors({"platform_uuid": [f"Not an event calendar of this account. {expected}"]})
