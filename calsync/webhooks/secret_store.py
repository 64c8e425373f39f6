"""A project's signing secrets: created, rotated, listed and retired, always encrypted at rest.

Read-once: the raw secret leaves this module only from `create_secret` (first webhook, rotation); listings
carry metadata and a fingerprint, never the key. During a rotation the previous secrets stay active until they
expire (`ROTATION_OVERLAP` by default) or are deleted, so receivers can switch without downtime.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.ids import new_id
from calsync.security.secret_box import SecretBox
from calsync.store.models import WebhookSecret
from calsync.webhooks.signing import generate_secret

SECRET_ID_PREFIX = "wsec_"
# How long the previous secret keeps signing after a rotation unless deleted earlier.
ROTATION_OVERLAP = timedelta(hours=72)
MAX_ROTATION_OVERLAP = timedelta(days=30)


@dataclass(frozen=True)
class IssuedSecret:
    row: WebhookSecret
    secret: bytes  # shown once, never again


def fingerprint(secret: bytes) -> str:
    """Short, non-reversible name of a key, so users can tell which one a receiver holds."""
    return hashlib.sha256(secret).hexdigest()[:12]


async def active_secrets(session: AsyncSession, project_id: int, now: datetime) -> list[WebhookSecret]:
    """Newest first: the first one signs `X-Webhook-Signature`."""
    stmt = (
        select(WebhookSecret)
        .where(
            WebhookSecret.project_id == project_id,
            or_(WebhookSecret.expires_at.is_(None), WebhookSecret.expires_at > now),
        )
        .order_by(WebhookSecret.created_at.desc(), WebhookSecret.id.desc())
    )
    return list((await session.execute(stmt)).scalars().all())


async def create_secret(session: AsyncSession, box: SecretBox, project_id: int, now: datetime) -> IssuedSecret:
    secret = generate_secret()
    row = WebhookSecret(
        object_id=new_id(SECRET_ID_PREFIX),
        project_id=project_id,
        encrypted_secret=box.encrypt(secret),
        created_at=now,
        expires_at=None,
    )
    session.add(row)
    await session.flush()
    return IssuedSecret(row=row, secret=secret)


async def ensure_secret(session: AsyncSession, box: SecretBox, project_id: int, now: datetime) -> IssuedSecret | None:
    """Create the project's first secret if it has none active; returns it only when it was just created."""
    if await active_secrets(session, project_id, now):
        return None
    return await create_secret(session, box, project_id, now)


async def rotate_secret(
    session: AsyncSession, box: SecretBox, project_id: int, now: datetime, overlap: timedelta = ROTATION_OVERLAP
) -> IssuedSecret:
    """A new newest secret; every other active secret now expires after `overlap` (or sooner, if it already did)."""
    retire_at = now + overlap
    for row in await active_secrets(session, project_id, now):
        if row.expires_at is None or row.expires_at > retire_at:
            row.expires_at = retire_at
    return await create_secret(session, box, project_id, now)


class DeleteOutcome(enum.Enum):
    DELETED = "deleted"
    NOT_FOUND = "not_found"
    IS_NEWEST = "is_newest"


async def delete_secret(session: AsyncSession, project_id: int, object_id: str, now: datetime) -> DeleteOutcome:
    """Retire a previous secret now (ends the rotation overlap). The newest one cannot be deleted: rotate."""
    active = await active_secrets(session, project_id, now)
    row = (
        await session.execute(
            select(WebhookSecret).where(WebhookSecret.project_id == project_id, WebhookSecret.object_id == object_id)
        )
    ).scalar_one_or_none()
    if row is None:
        return DeleteOutcome.NOT_FOUND
    if active and active[0].id == row.id:
        return DeleteOutcome.IS_NEWEST
    await session.delete(row)
    return DeleteOutcome.DELETED


def decrypt_all(box: SecretBox, rows: list[WebhookSecret]) -> list[bytes]:
    return [box.decrypt(row.encrypted_secret) for row in rows]
