"""Token endpoints (refresh-token grant): Google's `/token` and Entra's `/{tenant}/oauth2/v2.0/token`.

Failure bodies and statuses follow the protocol reference A.1 and A.2. Google never rotates the
refresh token. Entra rotates it on every refresh when `offline_access` is among the requested
scopes; when no `scope` is sent the emulator answers for the consented scopes, which include
`offline_access`, so it rotates (the old token stays valid, as Entra documents). With `openid` among the
requested scopes the reply carries an `id_token`, and with `client_info=1` a `client_info` (oidc.py).
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request

from calsync_emulator import ids, oidc
from calsync_emulator.authorization import CodeRefused, redeem_code
from calsync_emulator.errors import ApiError, oauth_error
from calsync_emulator.gate import admit, emulator_state
from calsync_emulator.jsonio import JSONResponse
from calsync_emulator.model import Account, Platform
from calsync_emulator.state import EmulatorState

router = APIRouter()

GOOGLE_GRANT_ERRORS: dict[str, dict[str, str]] = {
    "revoked": {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
    "invalid_rapt": {
        "error": "invalid_grant",
        "error_description": "reauth related error (invalid_rapt)",
        "error_subtype": "invalid_rapt",
    },
    "admin_policy_enforced": {
        "error": "admin_policy_enforced",
        "error_description": "Access to your account data is restricted by policies within your organization.",
    },
}

# reason -> (error, AADSTS code, description, suberror)
MICROSOFT_GRANT_ERRORS: dict[str, tuple[str, int, str, str | None]] = {
    "revoked": (
        "invalid_grant",
        50173,
        "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have "
        "changed or reset their password.",
        "bad_token",
    ),
    "invalid": ("invalid_grant", 70000, "The provided value for the 'refresh_token' is not valid.", None),
    "inactive": (
        "invalid_grant",
        700082,
        "The refresh token has expired due to inactivity. The token was issued on 2025-01-01T00:00:00Z and was "
        "inactive for 90.00:00:00.",
        None,
    ),
    "interaction_required": (
        "interaction_required",
        50076,
        "Due to a configuration change made by your administrator, or because you moved to a new location, you "
        "must use multi-factor authentication to access this resource.",
        None,
    ),
    "mfa_required": (
        "invalid_grant",
        50076,
        "Due to a configuration change made by your administrator, or because you moved to a new location, you "
        "must use multi-factor authentication to access this resource.",
        "basic_action",
    ),
    "consent_required": (
        "invalid_grant",
        65001,
        "The user or administrator has not consented to use the application.",
        "consent_required",
    ),
}


async def _form(request: Request) -> dict[str, str]:
    # parsed by hand: urlencoded bodies need no multipart machinery
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))


@router.post("/google/token")
async def google_token(request: Request, state: EmulatorState = Depends(emulator_state)) -> JSONResponse:
    form = await _form(request)
    account = _account_for(state, form.get("refresh_token"), Platform.GOOGLE)
    await admit(request, state, "google", account.id if account else None, token=True)

    def fail(status: int, error: str, description: str, **extra: str) -> ApiError:
        return ApiError(oauth_error(status, {"error": error, "error_description": description, **extra}))

    if form.get("grant_type") == "authorization_code":
        return _google_code(state, form, fail)
    for name in ("grant_type", "client_id", "refresh_token"):
        if not form.get(name):
            raise fail(400, "invalid_request", f"Missing required parameter: {name}")
    if form["grant_type"] != "refresh_token":
        raise fail(400, "unsupported_grant_type", f"Invalid grant_type: {form['grant_type']}")
    secret = state.grants.clients.get((Platform.GOOGLE, form["client_id"]))
    if secret is None:
        raise fail(401, "invalid_client", "The OAuth client was not found.")
    if form.get("client_secret") != secret:
        raise fail(401, "invalid_client", "Unauthorized")
    if account is None:
        raise fail(400, "invalid_grant", "Bad Request")
    if account.client_id != form["client_id"]:
        raise fail(401, "unauthorized_client", "Unauthorized")
    if account.grant_error is not None:
        raise ApiError(oauth_error(400, dict(GOOGLE_GRANT_ERRORS[account.grant_error])))
    scopes = form.get("scope", "").split() or list(account.scopes)
    if not set(scopes) <= set(account.scopes):
        raise fail(400, "invalid_scope", "Some requested scopes were invalid.")
    token, lifetime = state.grants.issue_access_token(account, form["client_id"])
    return JSONResponse(
        {"access_token": token, "expires_in": lifetime, "scope": " ".join(scopes), "token_type": "Bearer"},
        headers={"Cache-Control": "no-store"},
    )


# CodeRefused.kind -> Google's token error (code, description)
GOOGLE_CODE_ERRORS = {
    "missing": ("invalid_grant", "Malformed auth code."),
    "client": ("invalid_grant", "Bad Request"),
    "used": ("invalid_grant", "Bad Request"),
    "expired": ("invalid_grant", "Bad Request"),
    "redirect_uri": ("redirect_uri_mismatch", "Bad Request"),
    "pkce": ("invalid_grant", "Invalid code verifier."),
}
# CodeRefused.kind -> Entra's token error (error, AADSTS code, description)
MICROSOFT_CODE_ERRORS = {
    "missing": ("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."),
    "client": ("invalid_grant", 70000, "The provided grant was issued to a different client."),
    "used": (
        "invalid_grant",
        54005,
        "OAuth2 Authorization code was already redeemed, please retry with a new valid "
        "code or use an existing refresh token.",
    ),
    "expired": (
        "invalid_grant",
        70008,
        "The provided authorization code or refresh token has expired due to "
        "inactivity. Send a new interactive authorization request for this user and resource.",
    ),
    "redirect_uri": ("invalid_grant", 50148, "The redirect_uri does not match the one in the authorization request."),
    "pkce": (
        "invalid_grant",
        501481,
        "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
    ),
}


def _google_code(state: EmulatorState, form: dict[str, str], fail: Any) -> JSONResponse:
    """grant_type=authorization_code (authorization.py redeems the code)."""
    for name in ("client_id", "code", "redirect_uri"):
        if not form.get(name):
            raise fail(400, "invalid_request", f"Missing required parameter: {name}")
    secret = state.grants.clients.get((Platform.GOOGLE, form["client_id"]))
    if secret is None:
        raise fail(401, "invalid_client", "The OAuth client was not found.")
    if form.get("client_secret") != secret:
        raise fail(401, "invalid_client", "Unauthorized")
    try:
        body = redeem_code(state, Platform.GOOGLE, form)
    except CodeRefused as exc:
        error, description = GOOGLE_CODE_ERRORS[exc.kind]
        raise fail(400, error, description) from None
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _account_for(state: EmulatorState, refresh_token: str | None, platform: Platform) -> Account | None:
    account_id = state.grants.refresh_tokens.get(refresh_token or "")
    account = state.accounts.get(account_id or "")
    return account if account is not None and account.platform is platform else None


def aad_error(
    state: EmulatorState, status: int, error: str, code: int, description: str, suberror: str | None = None
) -> ApiError:
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = state.now().strftime("%Y-%m-%d %H:%M:%SZ")
    body: dict[str, Any] = {
        "error": error,
        "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}"
        f"\r\nTimestamp: {stamp}",
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    if suberror:
        body["suberror"] = suberror
    return ApiError(oauth_error(status, body))


@router.post("/microsoft/login/{tenant}/oauth2/v2.0/token")
async def microsoft_token(
    request: Request, tenant: str, state: EmulatorState = Depends(emulator_state)
) -> JSONResponse:
    form = await _form(request)
    account = _account_for(state, form.get("refresh_token"), Platform.MICROSOFT)
    await admit(request, state, "microsoft", account.id if account else None, token=True)
    for name in ("grant_type", "client_id"):
        if not form.get(name):
            raise aad_error(
                state,
                400,
                "invalid_request",
                900144,
                f"The request body must contain the following parameter: '{name}'.",
            )
    if form["grant_type"] not in ("refresh_token", "authorization_code"):
        raise aad_error(
            state,
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{form['grant_type']}'.",
        )
    client_id = form["client_id"]
    secret = state.grants.clients.get((Platform.MICROSOFT, client_id))
    if secret is None:
        raise aad_error(
            state,
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
        )
    if not form.get("client_secret"):
        raise aad_error(
            state,
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    if form["client_secret"] != secret:
        raise aad_error(
            state,
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client "
            f"secret value, not the client secret ID, for a secret added to app '{client_id}'.",
        )
    if form["grant_type"] == "authorization_code":
        try:
            code_body = redeem_code(state, Platform.MICROSOFT, form)
        except CodeRefused as exc:
            error, code, description = MICROSOFT_CODE_ERRORS[exc.kind]
            raise aad_error(state, 400, error, code, description) from None
        return JSONResponse(code_body, headers={"Cache-Control": "no-store"})
    if not form.get("refresh_token"):
        raise aad_error(
            state,
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'refresh_token'.",
        )
    if account is None:
        raise aad_error(state, 400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
    if account.client_id != client_id:
        raise aad_error(
            state, 400, "invalid_grant", 70000, "The provided grant was issued to a different client.", "bad_token"
        )
    if account.grant_error is not None:
        error, code, description, suberror = MICROSOFT_GRANT_ERRORS[account.grant_error]
        raise aad_error(state, 400, error, code, description, suberror)
    requested = form.get("scope", "").split()
    rotate = not requested or "offline_access" in requested
    resource_scopes = [s for s in account.scopes if s not in ("offline_access", "openid", "profile")]
    token, lifetime = state.grants.issue_access_token(account, client_id)
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": " ".join(resource_scopes),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": token,
    }
    if rotate:
        new_refresh = ids.refresh_token(Platform.MICROSOFT)
        state.grants.add_refresh_token(account, new_refresh)
        body["refresh_token"] = new_refresh
    # what msal's account cache needs: an id_token when openid was asked for, client_info when requested
    if "openid" in requested:
        body["id_token"] = oidc.id_token(request, account, client_id, state.now(), requested)
    if form.get("client_info") == "1":
        body["client_info"] = oidc.client_info(account)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
