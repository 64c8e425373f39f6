"""Connect sessions: created by the API, opened once by the end user's browser, ended by the platform's callback.

Status: `pending` (created) -> `opened` (its link was used; the link is spent) -> `authorizing` (sent to the
platform with a state and a PKCE verifier) -> `exchanging` (the callback came back and is redeeming the code) ->
`completed` or `failed` (with an error code)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.ids import new_id
from calsync.store.models import ConnectSession

PENDING, OPENED, AUTHORIZING, EXCHANGING, COMPLETED, FAILED = (
    "pending",
    "opened",
    "authorizing",
    "exchanging",
    "completed",
    "failed",
)
LAUNCH_PATH = "/connect/open/{token}"

# What a session's `error` may be (also the `error` query parameter of the return URL).
USER_DENIED = "user_denied"
SCOPE_NOT_GRANTED = "scope_not_granted"
SESSION_EXPIRED = "session_expired"
SESSION_ALREADY_USED = "session_already_used"
PROVIDER_ERROR = "provider_error"
PLATFORM_MISMATCH = "platform_mismatch"
ERRORS = (USER_DENIED, SCOPE_NOT_GRANTED, SESSION_EXPIRED, SESSION_ALREADY_USED, PROVIDER_ERROR, PLATFORM_MISMATCH)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewSession:
    platform: str | None
    return_url: str | None
    metadata: dict[str, str] | None
    deduplication_key: str | None
    client_state: str | None


async def create(
    session: AsyncSession, project_id: int, new: NewSession, now: datetime, lifetime: timedelta
) -> tuple[ConnectSession, str]:
    """The session and the secret of its link (only its digest is stored)."""
    launch_token = secrets.token_urlsafe(32)
    row = ConnectSession(
        # Two ids' worth of randomness (190 bits): the id alone never opens anything, but it names the session.
        object_id=new_id("cs_") + new_id(""),
        project_id=project_id,
        launch_token_hash=token_hash(launch_token),
        platform=new.platform,
        return_url=new.return_url,
        metadata_=new.metadata,
        deduplication_key=new.deduplication_key,
        client_state=new.client_state,
        status=PENDING,
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    await session.flush()
    return row, launch_token


async def get(session: AsyncSession, project_id: int, object_id: str) -> ConnectSession | None:
    stmt = select(ConnectSession).where(ConnectSession.project_id == project_id, ConnectSession.object_id == object_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_any(session: AsyncSession, object_id: str) -> ConnectSession | None:
    """A session by its id in any project: for the hosted pages, which know it from the browser's signed cookie."""
    stmt = select(ConnectSession).where(ConnectSession.object_id == object_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def by_launch_token(session: AsyncSession, token: str) -> ConnectSession | None:
    stmt = select(ConnectSession).where(ConnectSession.launch_token_hash == token_hash(token)).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def by_object_id(session: AsyncSession, object_id: str) -> ConnectSession | None:
    stmt = select(ConnectSession).where(ConnectSession.object_id == object_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def by_oauth_state(session: AsyncSession, state: str) -> ConnectSession | None:
    stmt = select(ConnectSession).where(ConnectSession.oauth_state == state).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


def is_expired(row: ConnectSession, now: datetime) -> bool:
    return now >= row.expires_at


def fail(row: ConnectSession, error: str, now: datetime) -> None:
    row.status = FAILED
    row.error = error
    row.finished_at = now
    row.encrypted_verifier = None


def complete(row: ConnectSession, calendar_object_id: str, now: datetime) -> None:
    row.status = COMPLETED
    row.calendar_object_id = calendar_object_id
    row.finished_at = now
    row.encrypted_verifier = None


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def session_json(row: ConnectSession) -> dict[str, Any]:
    return {
        "id": row.object_id,
        "status": row.status,
        "platform": row.chosen_platform or row.platform,
        "calendar_id": row.calendar_object_id,
        "error": row.error,
        "return_url": row.return_url,
        "metadata": row.metadata_,
        "deduplication_key": row.deduplication_key,
        "state": row.client_state,
        "created_at": _iso(row.created_at),
        "expires_at": _iso(row.expires_at),
        "finished_at": _iso(row.finished_at),
    }
