"""`Authorization: Token <key>` (and `Bearer <key>`), exactly as the anchor: every request resolves to
one project, and every query downstream is scoped to it."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import select

from calsync.api.key_cache import KeyCache
from calsync.context import AppContext
from calsync.security.api_keys import hash_api_key
from calsync.store.models import ApiKey, Project
from calsync.web.errors import ApiError

_SCHEMES = ("token", "bearer")


@dataclass(frozen=True)
class Caller:
    project_id: int
    project_object_id: str


def _unauthorized(message: str, code: str) -> ApiError:
    return ApiError(401, {"detail": message, "code": code}, headers={"WWW-Authenticate": "Token"})


def get_context(request: Request) -> AppContext:
    context = request.app.state.context
    assert isinstance(context, AppContext)
    return context


async def authenticate(request: Request) -> Caller:
    header = request.headers.get("authorization")
    if not header:
        raise _unauthorized("Missing Authorization header", "missing_authorization")
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() not in _SCHEMES:
        raise _unauthorized(
            "Invalid Authorization header. Should have this format: Token <api_key>", "invalid_authorization"
        )
    # Lookup by hash: the index does the comparison, so there is no timing signal about key prefixes.
    key_hash = hash_api_key(parts[1])
    cache = key_cache(request)
    found, caller = cache.lookup(key_hash)
    if not found:
        caller = await _lookup(get_context(request), key_hash)
        cache.store(key_hash, caller)
    if caller is None:
        raise _unauthorized("Invalid or disabled API key", "invalid_api_key")
    request.state.caller = caller
    return caller


def key_cache(request: Request) -> KeyCache[Caller]:
    """The application's cache of key lookups (calsync.api.key_cache), made at its first request."""
    state = request.app.state
    cache = getattr(state, "api_key_cache", None)
    if cache is None:
        cache = state.api_key_cache = KeyCache[Caller]()
    assert isinstance(cache, KeyCache)
    return cache


async def _lookup(context: AppContext, key_hash: str) -> Caller | None:
    async with context.db.read() as session:
        row = (
            await session.execute(
                select(Project.id, Project.object_id)
                .join(ApiKey, ApiKey.project_id == Project.id)
                .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
            )
        ).first()
    return None if row is None else Caller(project_id=row[0], project_object_id=row[1])
