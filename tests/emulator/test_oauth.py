"""Token endpoints: success shapes, refresh-token rotation, and every failure body of the reference."""

from __future__ import annotations

import httpx
import pytest

from calsync_emulator.client import EmulatorControl
from calsync_emulator.testing import RunningEmulator
from tests.emulator.conftest import google_token


def _google_form(account: dict, **overrides: str) -> dict[str, str]:
    form = {
        "grant_type": "refresh_token",
        "client_id": account["client_id"],
        "client_secret": account["client_secret"],
        "refresh_token": account["refresh_token"],
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v != ""}


async def test_google_refresh_returns_access_token_without_new_refresh_token(emulator, control, http):
    account = await control.create_account("google")
    response = await http.post(emulator.google_token_url, data=_google_form(account))
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599
    assert body["access_token"].startswith("ya29.")
    assert "refresh_token" not in body
    assert body["scope"] == "https://www.googleapis.com/auth/calendar.readonly"


@pytest.mark.parametrize(
    ("reason", "body"),
    [
        ("revoked", {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
        (
            "invalid_rapt",
            {
                "error": "invalid_grant",
                "error_description": "reauth related error (invalid_rapt)",
                "error_subtype": "invalid_rapt",
            },
        ),
    ],
)
async def test_google_revoked_grant_bodies(emulator, control, http, reason, body):
    account = await control.create_account("google")
    await control.revoke_grant(account["id"], reason)
    response = await http.post(emulator.google_token_url, data=_google_form(account))
    assert response.status_code == 400
    assert response.json() == body


async def test_google_client_and_token_failures(emulator, control, http):
    account = await control.create_account("google")
    other = await control.create_account("google")
    cases = [
        (
            _google_form(account, refresh_token="1//unknown"),
            400,
            {"error": "invalid_grant", "error_description": "Bad Request"},
        ),
        (
            _google_form(account, client_id="nope.apps.googleusercontent.com"),
            401,
            {"error": "invalid_client", "error_description": "The OAuth client was not found."},
        ),
        (
            _google_form(account, client_secret="wrong"),
            401,
            {"error": "invalid_client", "error_description": "Unauthorized"},
        ),
        # a refresh token issued to another OAuth client
        (
            _google_form(other, refresh_token=account["refresh_token"]),
            401,
            {"error": "unauthorized_client", "error_description": "Unauthorized"},
        ),
        (
            _google_form(account, refresh_token=""),
            400,
            {"error": "invalid_request", "error_description": "Missing required parameter: refresh_token"},
        ),
    ]
    for form, status, body in cases:
        response = await http.post(emulator.google_token_url, data=form)
        assert (response.status_code, response.json()) == (status, body), form


async def test_google_expired_access_token_gets_401_body(emulator, control, http):
    account = await control.create_account("google")
    headers = await google_token(http, emulator, account)
    url = f"{emulator.google_api_url}/calendars/primary"
    assert (await http.get(url, headers=headers)).status_code == 200
    await control.advance(3600)
    response = await http.get(url, headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == 401
    assert error["errors"] == [
        {
            "domain": "global",
            "reason": "authError",
            "message": "Invalid Credentials",
            "locationType": "header",
            "location": "Authorization",
        }
    ]
    assert error["message"].startswith("Request had invalid authentication credentials.")
    missing = await http.get(url)
    assert missing.status_code == 401
    # a refresh gives a working token again
    assert (await http.get(url, headers=await google_token(http, emulator, account))).status_code == 200


async def test_expire_access_tokens_control(emulator, control, http):
    account = await control.create_account("google")
    headers = await google_token(http, emulator, account)
    assert await control.expire_access_tokens(account["id"]) == 1
    assert (await http.get(f"{emulator.google_api_url}/calendars/primary", headers=headers)).status_code == 401


def _ms_form(
    account: dict, scope: str | None = "offline_access https://graph.microsoft.com/Calendars.Read", **overrides: str
) -> dict[str, str]:
    form = {
        "grant_type": "refresh_token",
        "client_id": account["client_id"],
        "client_secret": account["client_secret"],
        "refresh_token": account["refresh_token"],
    }
    if scope is not None:
        form["scope"] = scope
    form.update(overrides)
    return form


def _ms_url(emulator: RunningEmulator, tenant: str = "common") -> str:
    return f"{emulator.microsoft_login_url}/{tenant}/oauth2/v2.0/token"


async def test_microsoft_rotates_refresh_token_with_offline_access(emulator, control, http):
    account = await control.create_account("microsoft")
    first = await http.post(_ms_url(emulator), data=_ms_form(account))
    assert first.status_code == 200
    body = first.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599 and body["ext_expires_in"] == 3599
    assert body["refresh_token"] != account["refresh_token"]
    # the rotated token works, and so does the old one (Entra does not revoke it on rotation)
    second = await http.post(
        _ms_url(emulator, "organizations"), data=_ms_form(account, refresh_token=body["refresh_token"])
    )
    assert second.status_code == 200 and second.json()["refresh_token"] not in (
        body["refresh_token"],
        account["refresh_token"],
    )
    assert (await http.post(_ms_url(emulator), data=_ms_form(account))).status_code == 200
    assert (await control.get_account(account["id"]))["refresh_token"] != account["refresh_token"]


async def test_microsoft_scope_decides_rotation(emulator, control, http):
    account = await control.create_account("microsoft")
    without = await http.post(
        _ms_url(emulator), data=_ms_form(account, scope="https://graph.microsoft.com/Calendars.Read")
    )
    assert without.status_code == 200 and "refresh_token" not in without.json()
    # no scope at all: answered for the consented scopes, which include offline_access
    no_scope = await http.post(_ms_url(emulator), data=_ms_form(account, scope=None))
    assert no_scope.status_code == 200 and "refresh_token" in no_scope.json()


@pytest.mark.parametrize(
    ("reason", "error", "code", "suberror"),
    [
        ("revoked", "invalid_grant", 50173, "bad_token"),
        ("invalid", "invalid_grant", 70000, None),
        ("inactive", "invalid_grant", 700082, None),
        ("interaction_required", "interaction_required", 50076, None),
        ("mfa_required", "invalid_grant", 50076, "basic_action"),
    ],
)
async def test_microsoft_grant_failures(emulator, control, http, reason, error, code, suberror):
    account = await control.create_account("microsoft")
    await control.revoke_grant(account["id"], reason)
    response = await http.post(_ms_url(emulator), data=_ms_form(account))
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert "\r\nTrace ID: " in body["error_description"]
    assert body["error_uri"].endswith(f"code={code}")
    assert {"timestamp", "trace_id", "correlation_id"} <= body.keys()
    assert body.get("suberror") == suberror
    # a new consent heals it
    fresh = await control.restore_grant(account["id"])
    assert (await http.post(_ms_url(emulator), data=_ms_form(account, refresh_token=fresh))).status_code == 200


async def test_microsoft_client_failures(emulator, control, http):
    account = await control.create_account("microsoft")
    wrong_secret = await http.post(_ms_url(emulator), data=_ms_form(account, client_secret="wrong"))
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "invalid_client"
    assert wrong_secret.json()["error_codes"] == [7000215]
    unknown = await http.post(_ms_url(emulator), data=_ms_form(account, refresh_token="M.C5nope"))
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_grant"


async def test_graph_expired_token_401(emulator, control, http):
    account = await control.create_account("microsoft")
    token = (await http.post(_ms_url(emulator), data=_ms_form(account))).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert (await http.get(f"{emulator.graph_url}/me", headers=headers)).status_code == 200
    await control.expire_access_tokens(account["id"])
    response = await http.get(f"{emulator.graph_url}/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert response.json()["error"]["message"] == "Access token has expired or is not yet valid."
    assert "client_id=" in response.headers["www-authenticate"]


async def test_token_endpoint_faults(emulator: RunningEmulator, control: EmulatorControl, http: httpx.AsyncClient):
    account = await control.create_account("microsoft")
    await control.add_fault("throttle_429", path_contains="/oauth2/", count=1, retry_after=7)
    throttled = await http.post(_ms_url(emulator), data=_ms_form(account))
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "7"
    assert throttled.json()["error"] == "temporarily_unavailable"
    assert (await http.post(_ms_url(emulator), data=_ms_form(account))).status_code == 200
