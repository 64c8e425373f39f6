"""Sign in with a project API key, sign out."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from calsync.dashboard import session as sessions
from calsync.dashboard.web import (
    base_path,
    checked_form,
    cookie_secure,
    read_form,
    render,
    safe_next,
    signed_in,
    state_of,
)
from calsync.web.ratelimit import retry_after_seconds

log = structlog.get_logger(__name__)

router = APIRouter()


def _login_page(request: Request, *, status: int = 200, error: str | None = None, next_path: str = "") -> Response:
    """The form with a fresh login token, and the cookie holding its nonce (double submit)."""
    state = state_of(request)
    nonce = sessions.new_login_nonce()
    response = render(
        request,
        "login.html",
        status=status,
        title="Sign in",
        error=error,
        login_token=sessions.login_token(state.signer, nonce),
        next_path=next_path,
    )
    response.set_cookie(
        sessions.LOGIN_COOKIE,
        nonce,
        max_age=int(sessions.LOGIN_FORM_LIFETIME.total_seconds()),
        path=base_path(request) or "/",
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request),
    )
    return response


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    return _login_page(request, next_path=safe_next(base_path(request), next))


@router.post("/login")
async def login(request: Request) -> Response:
    state = state_of(request)
    form = await read_form(request)
    base = base_path(request)
    next_path = safe_next(base, form.get("next"))
    if not sessions.login_token_ok(state.signer, request.cookies.get(sessions.LOGIN_COOKIE), form.get("login_token")):
        # A stale form (the cookie expired) or a form posted from another site.
        return _login_page(
            request, status=403, error="The sign-in form expired. Please try again.", next_path=next_path
        )
    api_key = form.get("api_key", "").strip()
    address = request.client.host if request.client is not None else "unknown"
    limited = not state.context.settings.disable_rate_limiting
    wait = state.sign_in_limiter.wait(address, api_key) if limited else None
    if wait is not None:
        # Checked before the key is looked up: past the limit, not even the right key is tried.
        seconds = retry_after_seconds(wait)
        log.warning("dashboard_sign_in_limited", address=address, retry_after=seconds)
        response = _login_page(
            request,
            status=429,
            error=f"Too many failed sign-ins from this address or for this key. Try again in {seconds} seconds.",
            next_path=next_path,
        )
        response.headers["Retry-After"] = str(seconds)
        return response
    async with state.context.db.read() as session:
        found = await sessions.sign_in(session, api_key)
    if found is None:
        if limited:
            state.sign_in_limiter.failed(address, api_key)
        return _login_page(
            request, status=401, error="This API key is not valid, or it was revoked.", next_path=next_path
        )
    api_key_id, project_id = found
    claims = sessions.new_session(api_key_id, project_id, state.context.clock())
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        sessions.SESSION_COOKIE,
        sessions.encode_session(state.signer, claims),
        max_age=int(sessions.SESSION_LIFETIME.total_seconds()),
        path=base or "/",
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
    )
    response.delete_cookie(sessions.LOGIN_COOKIE, path=base or "/")
    return response


@router.post("/logout")
async def logout(request: Request, operator: Annotated[sessions.Operator, Depends(signed_in)]) -> Response:
    # Checked like every action: another site must not be able to sign an operator out either.
    await checked_form(request, operator)
    base = base_path(request)
    response = RedirectResponse(f"{base}/login?notice=signed_out", status_code=303)
    response.delete_cookie(sessions.SESSION_COOKIE, path=base or "/")
    return response
