"""Dashboard sign-in: a signed session cookie, CSRF tokens, and the login form's own token.

The cookie carries `{project id, API key id, nonce, expiry}`, signed with HMAC-SHA256 under a key derived from
the encryption keys (`SecretBox.derived_keys("dashboard-session")`): the first key signs, every configured key
verifies, so key rotation (new key first) keeps operators signed in and dropping the old key signs them out.
Nothing is stored server-side; on every request the API key the session was opened with is looked up again, so
revoking that key (`calsync api-keys revoke`) ends its sessions at once.

CSRF: every form that changes something carries `HMAC(key, "csrf", nonce)` of the session's nonce, compared in
constant time, and a request whose `Origin` names another site is refused as well. The sign-in form is protected
the same way with a nonce kept in a short-lived cookie of its own (double submit), so another site cannot sign an
operator in to the wrong project.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.security.api_keys import hash_api_key
from calsync.store.models import ApiKey, Project

SESSION_COOKIE = "calsync_dashboard"
LOGIN_COOKIE = "calsync_dashboard_login"
SESSION_LIFETIME = timedelta(hours=8)
LOGIN_FORM_LIFETIME = timedelta(minutes=30)
KEY_PURPOSE = "dashboard-session"
_VERSION = "v1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """HMAC-SHA256 tokens: signed with the first key, verified with any (rotation)."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one signing key is required")
        self._keys = keys

    def _mac(self, key: bytes, message: bytes) -> bytes:
        return hmac.new(key, message, hashlib.sha256).digest()

    def sign(self, payload: dict[str, Any]) -> str:
        body = _b64(orjson.dumps(payload))
        signed = f"{_VERSION}.{body}".encode()
        return f"{_VERSION}.{body}.{_b64(self._mac(self._keys[0], signed))}"

    def unsign(self, token: str) -> dict[str, Any] | None:
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != _VERSION:
            return None
        try:
            signature = _unb64(parts[2])
        except (binascii.Error, ValueError):
            return None
        signed = f"{parts[0]}.{parts[1]}".encode()
        if not any(hmac.compare_digest(self._mac(key, signed), signature) for key in self._keys):
            return None
        try:
            payload = orjson.loads(_unb64(parts[1]))
        except (binascii.Error, ValueError, orjson.JSONDecodeError):
            return None
        return payload if isinstance(payload, dict) else None

    def tag(self, purpose: str, value: str) -> str:
        """A token bound to `value` for one purpose (CSRF): the first key's, hex."""
        return self._mac(self._keys[0], f"{purpose}\0{value}".encode()).hex()

    def check_tag(self, purpose: str, value: str, token: str) -> bool:
        message = f"{purpose}\0{value}".encode()
        candidate = token.encode()
        return any(hmac.compare_digest(self._mac(key, message).hex().encode(), candidate) for key in self._keys)


@dataclass(frozen=True)
class SessionClaims:
    """What the cookie says; trusted only after `Signer.unsign` and an expiry check."""

    project_id: int
    api_key_id: int
    nonce: str
    expires_at: int  # unix seconds


@dataclass(frozen=True)
class Operator:
    """A signed-in operator: the project every page is scoped to, and the session's CSRF token."""

    project_id: int
    project_object_id: str
    project_name: str
    api_key_prefix: str
    csrf_token: str


def new_session(api_key_id: int, project_id: int, now: datetime) -> SessionClaims:
    return SessionClaims(
        project_id=project_id,
        api_key_id=api_key_id,
        nonce=secrets.token_urlsafe(18),
        expires_at=int((now + SESSION_LIFETIME).timestamp()),
    )


def encode_session(signer: Signer, claims: SessionClaims) -> str:
    return signer.sign({"p": claims.project_id, "k": claims.api_key_id, "n": claims.nonce, "e": claims.expires_at})


def decode_session(signer: Signer, token: str | None, now: datetime) -> SessionClaims | None:
    if not token:
        return None
    payload = signer.unsign(token)
    if payload is None:
        return None
    try:
        claims = SessionClaims(
            project_id=int(payload["p"]),
            api_key_id=int(payload["k"]),
            nonce=str(payload["n"]),
            expires_at=int(payload["e"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
    if claims.expires_at <= now.timestamp():
        return None
    return claims


async def operator_of(session: AsyncSession, signer: Signer, claims: SessionClaims) -> Operator | None:
    """The operator of a valid cookie, if the API key it was opened with still exists, is not revoked and still
    belongs to the project (one primary-key lookup)."""
    row = (
        await session.execute(
            select(Project.id, Project.object_id, Project.name, ApiKey.key_prefix)
            .join(ApiKey, ApiKey.project_id == Project.id)
            .where(ApiKey.id == claims.api_key_id, ApiKey.revoked_at.is_(None), Project.id == claims.project_id)
        )
    ).first()
    if row is None:
        return None
    return Operator(
        project_id=row[0],
        project_object_id=row[1],
        project_name=row[2],
        api_key_prefix=row[3],
        csrf_token=signer.tag("csrf", claims.nonce),
    )


async def sign_in(session: AsyncSession, api_key: str) -> tuple[int, int] | None:
    """(API key id, project id) of a valid, unrevoked key. Looked up by hash, as the API does."""
    if not api_key or len(api_key) > 256:
        return None
    row = (
        await session.execute(
            select(ApiKey.id, ApiKey.project_id).where(
                ApiKey.key_hash == hash_api_key(api_key), ApiKey.revoked_at.is_(None)
            )
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


def csrf_ok(signer: Signer, claims: SessionClaims, token: str | None) -> bool:
    return bool(token) and signer.check_tag("csrf", claims.nonce, token or "")


def new_login_nonce() -> str:
    return secrets.token_urlsafe(18)


def login_token(signer: Signer, nonce: str) -> str:
    return signer.tag("login", nonce)


def login_token_ok(signer: Signer, nonce: str | None, token: str | None) -> bool:
    return bool(nonce) and bool(token) and signer.check_tag("login", nonce or "", token or "")
