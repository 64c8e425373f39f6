"""The cookie that binds a connect session to the browser that opened its link, and the CSRF token of its forms.

Signed like the dashboard's session (calsync.dashboard.session.Signer) under a key of its own purpose. It carries the
session id and a nonce stored on the session: a callback, a form or a page of a session is honoured only in the
browser holding both. SameSite=Lax: the platform's callback is a cross-site top-level GET that must carry it."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request, Response

from calsync.dashboard.session import Signer
from calsync.security.secret_box import SecretBox

COOKIE = "calsync_connect"
COOKIE_PATH = "/connect"
KEY_PURPOSE = "connect-session"


@dataclass(frozen=True)
class BrowserBinding:
    session_id: str
    nonce: str


def signer(secrets: SecretBox) -> Signer:
    return Signer(secrets.derived_keys(KEY_PURPOSE))


def set_cookie(response: Response, sign: Signer, binding: BrowserBinding, *, secure: bool, max_age: int) -> None:
    response.set_cookie(
        COOKIE,
        sign.sign({"s": binding.session_id, "n": binding.nonce}),
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=secure,
    )


def binding_of(request: Request, sign: Signer) -> BrowserBinding | None:
    token = request.cookies.get(COOKIE)
    payload = sign.unsign(token) if token else None
    if payload is None or not isinstance(payload.get("s"), str) or not isinstance(payload.get("n"), str):
        return None
    return BrowserBinding(payload["s"], payload["n"])


def csrf_token(sign: Signer, nonce: str) -> str:
    return sign.tag("connect-csrf", nonce)


def csrf_ok(sign: Signer, nonce: str, token: str | None) -> bool:
    return bool(token) and sign.check_tag("connect-csrf", nonce, token or "")
