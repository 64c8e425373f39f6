"""The emulator's authorization endpoints and authorization-code grant: the consent page, the platforms' errors
(access_denied, redirect_uri_mismatch, reused or expired code, PKCE), and refresh tokens only with offline access."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

from calsync_emulator.client import EmulatorControl
from calsync_emulator.testing import RunningEmulator

REDIRECT = "https://app.example.com/callback"
VERIFIER = "v" * 50
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).decode().rstrip("=")
GOOGLE_SCOPE = "https://www.googleapis.com/auth/calendar.readonly"
GRAPH_SCOPE = "https://graph.microsoft.com/Calendars.Read"


async def _client(control: EmulatorControl, platform: str) -> dict[str, Any]:
    account = await control.create_account(platform)  # type: ignore[arg-type]
    await control.register_oauth_client(platform, account["client_id"], account["client_secret"], [REDIRECT])  # type: ignore[arg-type]
    return account


def _authorize_url(emulator: RunningEmulator, platform: str) -> str:
    if platform == "google":
        return f"{emulator.base_url}/google/auth"
    return f"{emulator.microsoft_login_url}/common/oauth2/v2.0/authorize"


def _token_url(emulator: RunningEmulator, platform: str) -> str:
    if platform == "google":
        return emulator.google_token_url
    return f"{emulator.microsoft_login_url}/common/oauth2/v2.0/token"


async def _consent(
    http: httpx.AsyncClient,
    emulator: RunningEmulator,
    platform: str,
    account: dict[str, Any],
    scopes: list[str],
    *,
    allow: bool = True,
    **extra: str,
) -> dict[str, str]:
    params = {
        "client_id": account["client_id"],
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": " ".join(scopes),
        "state": "st",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        **extra,
    }
    url = _authorize_url(emulator, platform)
    page = await http.get(url, params=params)
    assert page.status_code == 200, page.text
    request_id = re.search(r'name=request value="([^"]+)"', page.text)
    assert request_id is not None
    form = [("request", request_id.group(1)), ("decision", "allow" if allow else "deny"), ("account", account["id"])]
    form += [("scope", scope) for scope in scopes]
    decided = await http.post(
        urljoin(url, "authorize/decide"),
        content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert decided.status_code == 302
    location = decided.headers["location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def _redeem(
    http: httpx.AsyncClient, emulator: RunningEmulator, platform: str, account: dict[str, Any], code: str, **extra: str
) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "client_id": account["client_id"],
        "client_secret": account["client_secret"],
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
        **extra,
    }
    return await http.post(_token_url(emulator, platform), data=form)


async def test_google_code_flow_and_single_use(emulator, control, http) -> None:  # type: ignore[no-untyped-def]
    account = await _client(control, "google")
    answer = await _consent(http, emulator, "google", account, [GOOGLE_SCOPE], access_type="offline")
    assert answer["state"] == "st" and answer["scope"] == GOOGLE_SCOPE
    first = await _redeem(http, emulator, "google", account, answer["code"])
    assert first.status_code == 200, first.text
    assert first.json()["refresh_token"] and first.json()["scope"] == GOOGLE_SCOPE
    again = await _redeem(http, emulator, "google", account, answer["code"])
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
    # The refresh token minted from the reused code was revoked.
    refresh = await http.post(
        emulator.google_token_url,
        data={
            "grant_type": "refresh_token",
            "client_id": account["client_id"],
            "client_secret": account["client_secret"],
            "refresh_token": first.json()["refresh_token"],
        },
    )
    assert refresh.status_code == 400


async def test_google_without_offline_access_has_no_refresh_token(emulator, control, http) -> None:  # type: ignore[no-untyped-def]
    account = await _client(control, "google")
    answer = await _consent(http, emulator, "google", account, [GOOGLE_SCOPE])
    token = (await _redeem(http, emulator, "google", account, answer["code"])).json()
    assert "refresh_token" not in token and token["access_token"]


async def test_pkce_is_enforced(emulator, control, http) -> None:  # type: ignore[no-untyped-def]
    account = await _client(control, "google")
    answer = await _consent(http, emulator, "google", account, [GOOGLE_SCOPE])
    wrong = await _redeem(http, emulator, "google", account, answer["code"], code_verifier="w" * 50)
    assert wrong.json()["error"] == "invalid_grant"
    # A verifier for a request that sent no challenge is a downgrade.
    answer = await _consent(http, emulator, "google", account, [GOOGLE_SCOPE], code_challenge="")
    downgrade = await _redeem(http, emulator, "google", account, answer["code"])
    assert downgrade.json()["error"] == "invalid_grant"


async def test_expired_code(emulator, control, http) -> None:  # type: ignore[no-untyped-def]
    account = await _client(control, "microsoft")
    answer = await _consent(http, emulator, "microsoft", account, ["offline_access", GRAPH_SCOPE])
    await control.advance(601)
    expired = await _redeem(http, emulator, "microsoft", account, answer["code"])
    assert expired.json()["error"] == "invalid_grant" and expired.json()["error_codes"] == [70008]


async def test_microsoft_offline_access_and_reuse(emulator, control, http) -> None:  # type: ignore[no-untyped-def]
    account = await _client(control, "microsoft")
    answer = await _consent(http, emulator, "microsoft", account, ["offline_access", GRAPH_SCOPE])
    token = (await _redeem(http, emulator, "microsoft", account, answer["code"])).json()
    assert token["refresh_token"] and token["scope"] == GRAPH_SCOPE
    reused = await _redeem(http, emulator, "microsoft", account, answer["code"])
    assert reused.json()["error_codes"] == [54005]
    answer = await _consent(http, emulator, "microsoft", account, [GRAPH_SCOPE])
    token = (await _redeem(http, emulator, "microsoft", account, answer["code"])).json()
    assert "refresh_token" not in token


async def test_denied(emulator, control, http) -> None:  # type: ignore[no-untyped-def]
    account = await _client(control, "microsoft")
    answer = await _consent(http, emulator, "microsoft", account, [GRAPH_SCOPE], allow=False)
    assert answer["error"] == "access_denied" and "AADSTS65004" in answer["error_description"]
    google = await _client(control, "google")
    assert await _consent(http, emulator, "google", google, [GOOGLE_SCOPE], allow=False) == {
        "error": "access_denied",
        "state": "st",
    }


async def test_redirect_uri_mismatch_is_a_page_not_a_redirect(emulator, control, http) -> None:  # type: ignore[no-untyped-def]
    account = await _client(control, "google")
    params = {"client_id": account["client_id"], "redirect_uri": REDIRECT + "/", "response_type": "code", "scope": "x"}
    page = await http.get(f"{emulator.base_url}/google/auth", params=params)
    assert page.status_code == 400 and "redirect_uri_mismatch" in page.text
    assert "location" not in page.headers
    answer = await _consent(http, emulator, "google", account, [GOOGLE_SCOPE])
    mismatch = await _redeem(http, emulator, "google", account, answer["code"], redirect_uri=REDIRECT + "/")
    assert mismatch.json()["error"] == "redirect_uri_mismatch"
