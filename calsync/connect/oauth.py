"""The authorization-code flow's client side, through authlib: the authorization URL (state, PKCE S256, the
platform's offline parameters) and the code exchange with token parsing. What was granted is checked here too:
authlib does not compare requested and granted scopes (protocol reference F.4)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from authlib.common.security import generate_token
from authlib.deprecate import AuthlibDeprecationWarning

# authlib 1.9 warns on import that it will move its httpx client to httpx2; calsync's outbound calls are httpx's API
# over aiohttp (calsync.providers.http), so the warning is not actionable here, and it must not reach the CLI's
# one-line errors.
# (authlib.deprecate adds an "always" filter for its class when imported: this one, added after it, comes first.)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

from calsync.connect.settings_store import OAuthApp
from calsync.settings import Settings

GOOGLE_SCOPES = ("https://www.googleapis.com/auth/calendar.readonly",)
MICROSOFT_SCOPES = ("offline_access", "https://graph.microsoft.com/Calendars.Read")
MICROSOFT_TENANT = "common"
# Any of these grants calendar read access (a broader scope than asked for, granted earlier, counts).
GOOGLE_CALENDAR_SCOPES = {
    "https://www.googleapis.com/auth/calendar.readonly",
    "https://www.googleapis.com/auth/calendar",
}
MICROSOFT_CALENDAR_SCOPES = {"calendars.read", "calendars.readwrite"}
VERIFIER_LENGTH = 64  # RFC 7636 §4.1: 43 to 128 characters


class ExchangeFailed(Exception):
    """The platform refused the code or could not be reached: `error` is its error code (logged, never the code)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(frozen=True)
class Endpoints:
    authorize: str
    token: str


def endpoints(settings: Settings, platform: str) -> Endpoints:
    if platform == "google":
        return Endpoints(settings.google_oauth_authorize_url, settings.google_oauth_token_url)
    base = f"{settings.microsoft_login_url.rstrip('/')}/{MICROSOFT_TENANT}/oauth2/v2.0"
    return Endpoints(f"{base}/authorize", f"{base}/token")


def _client(app: OAuthApp, redirect_uri: str, settings: Settings) -> AsyncOAuth2Client:
    scopes = GOOGLE_SCOPES if app.platform == "google" else MICROSOFT_SCOPES
    return AsyncOAuth2Client(
        client_id=app.client_id,
        client_secret=app.client_secret,
        scope=" ".join(scopes),
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_post",
        timeout=settings.provider_timeout_seconds,
        trust_env=False,
    )


def new_verifier() -> str:
    return str(generate_token(VERIFIER_LENGTH))


def new_state() -> str:
    return str(generate_token(43))


async def authorization_url(app: OAuthApp, redirect_uri: str, settings: Settings, state: str, verifier: str) -> str:
    extra: dict[str, str] = {}
    if app.platform == "google":
        # offline: a refresh token; consent: shown again on a reconnect, else no new refresh token comes back.
        extra = {"access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"}
    else:
        extra = {"prompt": "select_account"}
    async with _client(app, redirect_uri, settings) as client:
        url, _ = client.create_authorization_url(
            endpoints(settings, app.platform).authorize, state=state, code_verifier=verifier, **extra
        )
    return str(url)


async def exchange(app: OAuthApp, redirect_uri: str, settings: Settings, code: str, verifier: str) -> dict[str, Any]:
    async with _client(app, redirect_uri, settings) as client:
        try:
            token = await client.fetch_token(
                endpoints(settings, app.platform).token,
                grant_type="authorization_code",
                code=code,
                code_verifier=verifier,
                redirect_uri=redirect_uri,
            )
        except OAuthError as exc:
            raise ExchangeFailed(str(exc.error or "oauth_error")) from None
        except Exception as exc:  # network faults, a non-JSON answer: the platform is the problem either way
            raise ExchangeFailed(type(exc).__name__) from None
    return dict(token)


def granted_calendar_access(platform: str, token: dict[str, Any], requested: tuple[str, ...]) -> bool:
    """A token response may leave `scope` out only when it equals the request (RFC 6749 §3.3)."""
    raw = token.get("scope")
    granted = str(raw).split() if raw is not None else list(requested)
    if platform == "google":
        return any(scope in GOOGLE_CALENDAR_SCOPES for scope in granted)
    return any(scope.rsplit("/", 1)[-1].lower() in MICROSOFT_CALENDAR_SCOPES for scope in granted)


def requested_scopes(platform: str) -> tuple[str, ...]:
    return GOOGLE_SCOPES if platform == "google" else MICROSOFT_SCOPES
