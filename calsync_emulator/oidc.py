"""Entra's OpenID Connect side: the discovery document and JWKS of the emulated authority, and the
`id_token` / `client_info` a token reply carries.

msal reads `{authority}/v2.0/.well-known/openid-configuration` before its first token request and takes
the token endpoint from it; its account cache is keyed by `client_info` (base64url JSON with `uid` and
`utid`), which Entra returns when the request asks for it (`client_info=1`), and its account's username
comes from the `id_token`, issued when `openid` is among the requested scopes. The id_token is an RS256
JWT signed with the emulator's key, which the JWKS publishes, so a client can verify it as it would a
real one. Every URL is built on the host and scheme the request came in on (https when the emulator
runs with --tls).

All accounts live in one tenant (notifications.TENANT_ID): `tid`, `utid` and the issuer use it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi import APIRouter, Request

from calsync_emulator.jsonio import JSONResponse
from calsync_emulator.model import Account
from calsync_emulator.notifications import TENANT_ID

router = APIRouter()

LOGIN_PREFIX = "/microsoft/login"
ID_TOKEN_LIFETIME = timedelta(hours=1)
# Entra's multi-tenant authorities publish an issuer template instead of one tenant's issuer
_MULTI_TENANT = frozenset({"common", "organizations", "consumers"})


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_uint(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@cache
def signing_key() -> rsa.RSAPrivateKey:
    """One RSA key per emulator process, made on first use (the JWKS changes when the process restarts,
    as a real key rollover would)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk() -> dict[str, str]:
    numbers = signing_key().public_key().public_numbers()
    jwk = {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}
    # RFC 7638 thumbprint: SHA-256 of the required members in lexicographic order, no whitespace
    kid = _b64url(hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()).digest())
    return {"kty": "RSA", "use": "sig", "kid": kid, "alg": "RS256", "n": jwk["n"], "e": jwk["e"]}


def sign_jwt(claims: dict[str, Any]) -> str:
    header = {"typ": "JWT", "alg": "RS256", "kid": public_jwk()["kid"]}
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    signature = signing_key().sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"


def login_base(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}{LOGIN_PREFIX}"


def issuer(request: Request, tenant: str = TENANT_ID) -> str:
    return f"{login_base(request)}/{tenant}/v2.0"


def client_info(account: Account) -> str:
    return _b64url(json.dumps({"uid": account.user_id, "utid": TENANT_ID}, separators=(",", ":")).encode())


def id_token(request: Request, account: Account, client_id: str, now: datetime, scopes: list[str]) -> str:
    stamp = int(now.timestamp())
    claims: dict[str, Any] = {
        "aud": client_id,
        "iss": issuer(request),
        "iat": stamp,
        "nbf": stamp,
        "exp": stamp + int(ID_TOKEN_LIFETIME.total_seconds()),
        "oid": account.user_id,
        # Entra's `sub` is pairwise: the same user has another subject in another app
        "sub": _b64url(hashlib.sha256(f"{account.user_id}/{client_id}".encode()).digest()[:32]),
        "tid": TENANT_ID,
        "uti": _b64url(secrets.token_bytes(16)),
        "ver": "2.0",
    }
    if "profile" in scopes:
        claims["name"] = account.display_name
        claims["preferred_username"] = account.email
    if "email" in scopes:
        claims["email"] = account.email
    return sign_jwt(claims)


@router.get(LOGIN_PREFIX + "/{tenant}/v2.0/.well-known/openid-configuration")
async def openid_configuration(request: Request, tenant: str) -> JSONResponse:
    base = f"{login_base(request)}/{tenant}"
    return JSONResponse(
        {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": issuer(request, "{tenantid}" if tenant.lower() in _MULTI_TENANT else TENANT_ID),
            "request_uri_parameter_supported": False,
            # listed because clients require it; the emulator has no interactive sign-in (see docs/emulator.md)
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "nbf",
                "name",
                "preferred_username",
                "email",
                "oid",
                "tid",
                "ver",
            ],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
        },
        headers={"Cache-Control": "max-age=86400, private"},
    )


@router.get(LOGIN_PREFIX + "/{tenant}/discovery/v2.0/keys")
async def jwks(tenant: str) -> JSONResponse:
    return JSONResponse({"keys": [public_jwk()]}, headers={"Cache-Control": "max-age=86400, private"})
