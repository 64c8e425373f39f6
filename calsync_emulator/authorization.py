"""The interactive leg of OAuth: Google's and Entra's authorization endpoints (a consent page with an account
chooser, scope checkboxes and Allow / Deny) and the authorization-code grant of their token endpoints.

Follows the protocol reference F: redirect URIs match registered ones exactly (a mismatch is a page at the
platform, never a redirect); codes are single use and expire (a second use is `invalid_grant` and revokes the
refresh token minted from the code); PKCE S256 is enforced when a challenge was sent, and a verifier without a
challenge is refused; Google returns a refresh token only for `access_type=offline` with consent shown, Entra only
when `offline_access` was granted. Redirect URIs are registered per client through `PUT /_emulator/oauth_clients`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import timedelta
from html import escape
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from calsync_emulator import ids
from calsync_emulator.authorization_store import Authorizations, IssuedCode, PendingAuthorization
from calsync_emulator.gate import emulator_state
from calsync_emulator.model import Account, Platform
from calsync_emulator.state import EmulatorState

router = APIRouter()

CODE_LIFETIME = timedelta(minutes=10)
PENDING_LIFETIME = timedelta(minutes=30)
GOOGLE_CALENDAR_READ = "https://www.googleapis.com/auth/calendar.readonly"
DECLINED_DESCRIPTION = "AADSTS65004: User declined to consent to access the app."


def authorizations(state: EmulatorState) -> Authorizations:
    return state.grants.authorizations


# --- control API -------------------------------------------------------------------------------------------------


class OAuthClientIn(BaseModel):
    client_secret: str
    redirect_uris: list[str] = []


@router.put("/_emulator/oauth_clients/{platform}/{client_id}")
async def register_client(
    platform: Platform, client_id: str, body: OAuthClientIn, state: EmulatorState = Depends(emulator_state)
) -> dict[str, Any]:
    """Create or update an OAuth client and the redirect URIs registered for it (matched exactly)."""
    state.grants.clients[(platform, client_id)] = body.client_secret
    authorizations(state).redirect_uris[(platform, client_id)] = set(body.redirect_uris)
    return {"platform": platform.value, "client_id": client_id, "redirect_uris": sorted(body.redirect_uris)}


# --- pages -------------------------------------------------------------------------------------------------------


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>body{{font-family:sans-serif;max-width:32rem;margin:2rem auto;"
        "padding:0 1rem}label{display:block;margin:.5rem 0}button{font-size:1rem;padding:.5rem 1rem;"
        f"margin-right:.5rem}}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _error_page(platform: Platform, error: str, message: str) -> HTMLResponse:
    prefix = "Error 400: " if platform is Platform.GOOGLE else ""
    return _page("Sign-in error", f"<p id=error>{escape(prefix + error)}</p><p>{escape(message)}</p>", 400)


def _redirect(uri: str, params: dict[str, str | None]) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return RedirectResponse(f"{uri}{'&' if '?' in uri else '?'}{query}", status_code=302)


def _consent_page(state: EmulatorState, request_id: str, pending: PendingAuthorization) -> HTMLResponse:
    accounts = [
        a for a in state.accounts.values() if a.platform is pending.platform and a.client_id == pending.client_id
    ]
    if not accounts:
        return _page("Choose an account", "<p>No account can sign in to this application.</p>")
    choices = "".join(
        f'<label><input type=radio name=account value="{escape(a.id)}"{" checked" if i == 0 else ""}> '
        f"{escape(a.display_name)} &lt;{escape(a.email)}&gt;</label>"
        for i, a in enumerate(accounts)
    )
    scopes = "".join(
        f'<label><input type=checkbox name=scope value="{escape(s)}" checked> {escape(s)}</label>'
        for s in pending.scopes
    )
    body = (
        f'<form method=post action="authorize/decide"><input type=hidden name=request value="{request_id}">'
        f"<fieldset><legend>Account</legend>{choices}</fieldset>"
        f"<fieldset><legend>This application wants to</legend>{scopes}</fieldset>"
        "<button type=submit name=decision value=allow>Allow</button>"
        "<button type=submit name=decision value=deny>Deny</button></form>"
    )
    return _page("Choose an account", body)


def _start(state: EmulatorState, platform: Platform, params: dict[str, str]) -> Response:
    client_id = params.get("client_id", "")
    if (platform, client_id) not in state.grants.clients:
        return _error_page(platform, "invalid_client", "The OAuth client was not found.")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in authorizations(state).redirect_uris.get((platform, client_id), set()):
        return _error_page(
            platform, "redirect_uri_mismatch", "The redirect URI in the request does not match the ones registered."
        )
    callback_state = params.get("state")
    if params.get("response_type") != "code":
        return _redirect(redirect_uri, {"error": "unsupported_response_type", "state": callback_state})
    scopes = params.get("scope", "").split()
    if not scopes:
        return _redirect(redirect_uri, {"error": "invalid_scope", "state": callback_state})
    method = params.get("code_challenge_method")
    if params.get("code_challenge") and (method or "plain") not in ("S256", "plain"):
        return _redirect(redirect_uri, {"error": "invalid_request", "state": callback_state})
    request_id = secrets.token_urlsafe(16)
    auth = authorizations(state)
    auth.pending[request_id] = PendingAuthorization(
        platform=platform,
        client_id=client_id,
        redirect_uri=redirect_uri,
        scopes=scopes,
        state=callback_state,
        code_challenge=params.get("code_challenge") or None,
        code_challenge_method=(method or "plain") if params.get("code_challenge") else None,
        offline=params.get("access_type") == "offline",
        expires_at=state.now() + PENDING_LIFETIME,
    )
    return _consent_page(state, request_id, auth.pending[request_id])


async def _decide(state: EmulatorState, platform: Platform, request: Request) -> Response:
    fields = parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    form = dict(fields)
    pending = authorizations(state).pending.pop(form.get("request", ""), None)
    if pending is None or pending.platform is not platform or pending.expires_at <= state.now():
        return _page("Sign-in error", "<p>This sign-in request has expired. Start again.</p>", 400)
    if form.get("decision") != "allow":
        if platform is Platform.GOOGLE:
            return _redirect(pending.redirect_uri, {"error": "access_denied", "state": pending.state})
        return _redirect(
            pending.redirect_uri,
            {"error": "access_denied", "error_description": DECLINED_DESCRIPTION, "state": pending.state},
        )
    account = state.accounts.get(form.get("account", ""))
    if account is None or account.platform is not platform or account.client_id != pending.client_id:
        return _page("Sign-in error", "<p>Choose one of the accounts shown.</p>", 400)
    granted = [scope for name, scope in fields if name == "scope" and scope in pending.scopes]
    code = secrets.token_urlsafe(32)
    offline = pending.offline if platform is Platform.GOOGLE else "offline_access" in granted
    authorizations(state).codes[code] = IssuedCode(
        platform=platform,
        client_id=pending.client_id,
        redirect_uri=pending.redirect_uri,
        account_id=account.id,
        scopes=granted,
        code_challenge=pending.code_challenge,
        code_challenge_method=pending.code_challenge_method,
        offline=offline,
        expires_at=state.now() + CODE_LIFETIME,
    )
    params: dict[str, str | None] = {"code": code, "state": pending.state}
    if platform is Platform.GOOGLE:
        params["scope"] = " ".join(granted)  # Google echoes the granted scopes on the callback
    return _redirect(pending.redirect_uri, params)


@router.get("/google/auth", response_class=HTMLResponse)
async def google_authorize(request: Request, state: EmulatorState = Depends(emulator_state)) -> Response:
    return _start(state, Platform.GOOGLE, dict(request.query_params))


@router.post("/google/authorize/decide")
async def google_decide(request: Request, state: EmulatorState = Depends(emulator_state)) -> Response:
    return await _decide(state, Platform.GOOGLE, request)


@router.get("/microsoft/login/{tenant}/oauth2/v2.0/authorize", response_class=HTMLResponse)
async def microsoft_authorize(
    request: Request, tenant: str, state: EmulatorState = Depends(emulator_state)
) -> Response:
    del tenant  # every tenant segment signs in the same emulated directory
    return _start(state, Platform.MICROSOFT, dict(request.query_params))


@router.post("/microsoft/login/{tenant}/oauth2/v2.0/authorize/decide")
async def microsoft_decide(request: Request, tenant: str, state: EmulatorState = Depends(emulator_state)) -> Response:
    del tenant
    return await _decide(state, Platform.MICROSOFT, request)


# --- the authorization-code grant at the token endpoints -----------------------------------------------------------


class CodeRefused(Exception):
    """The code cannot be redeemed: `kind` is missing, used, expired, redirect_uri, pkce or client."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def _challenge_ok(issued: IssuedCode, verifier: str | None) -> bool:
    if issued.code_challenge is None:
        return not verifier  # a verifier without a challenge is a downgrade attempt (RFC 9700 §4.8)
    if not verifier:
        return False
    if issued.code_challenge_method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    else:
        expected = verifier
    return secrets.compare_digest(expected, issued.code_challenge)


def redeem_code(state: EmulatorState, platform: Platform, form: dict[str, str]) -> dict[str, Any]:
    """The token response for a valid code (client already authenticated by the caller), or CodeRefused."""
    auth = authorizations(state)
    issued = auth.codes.get(form.get("code", ""))
    if issued is None or issued.platform is not platform:
        raise CodeRefused("missing")
    if issued.client_id != form.get("client_id"):
        raise CodeRefused("client")
    if issued.used:
        # A code presented twice: refuse, and revoke what the first redemption minted (RFC 6749 §4.1.2).
        if issued.refresh_token is not None:
            state.grants.refresh_tokens.pop(issued.refresh_token, None)
        raise CodeRefused("used")
    issued.used = True
    if issued.expires_at <= state.now():
        raise CodeRefused("expired")
    if issued.redirect_uri != form.get("redirect_uri"):
        raise CodeRefused("redirect_uri")
    if not _challenge_ok(issued, form.get("code_verifier")):
        raise CodeRefused("pkce")
    account = state.accounts[issued.account_id]
    return _tokens(state, account, issued)


def _tokens(state: EmulatorState, account: Account, issued: IssuedCode) -> dict[str, Any]:
    resource_scopes = [s for s in issued.scopes if s not in ("offline_access", "openid", "profile", "email")]
    account.scopes = tuple(issued.scopes)
    account.grant_error = None
    token, lifetime = state.grants.issue_access_token(account, issued.client_id)
    body: dict[str, Any] = {
        "access_token": token,
        "expires_in": lifetime,
        "scope": " ".join(issued.scopes if account.platform is Platform.GOOGLE else resource_scopes),
        "token_type": "Bearer",
    }
    if issued.offline:
        refresh = ids.refresh_token(account.platform)
        state.grants.add_refresh_token(account, refresh)
        issued.refresh_token = refresh
        body["refresh_token"] = refresh
    if account.platform is Platform.MICROSOFT:
        body["ext_expires_in"] = lifetime
    return body
