"""Re-encrypt every stored secret under the primary key, in bounded batches, reporting progress."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from calsync.security.secret_box import SecretBox
from calsync.store.db import Database
from calsync.store.models import Calendar, ConnectSession, ConnectSettings, WebhookSecret

BATCH_SIZE = 500


async def rotate_secrets(db: Database, box: SecretBox, progress: Callable[[int, int], None] | None = None) -> int:
    """Calendars (counted and reported), then webhook signing secrets and hosted connect's client secrets and PKCE
    verifiers; returns the number of calendars."""
    count = await _rotate_calendar_secrets(db, box, progress)
    await rotate_webhook_secrets(db, box)
    await rotate_connect_secrets(db, box)
    return count


async def _rotate_calendar_secrets(
    db: Database, box: SecretBox, progress: Callable[[int, int], None] | None = None
) -> int:
    async with db.read() as session:
        total = int((await session.execute(select(func.count(Calendar.id)))).scalar_one())
    done = 0
    last_id = 0
    while True:
        async with db.write() as session:
            rows = (
                (
                    await session.execute(
                        select(Calendar).where(Calendar.id > last_id).order_by(Calendar.id).limit(BATCH_SIZE)
                    )
                )
                .scalars()
                .all()
            )
            for calendar in rows:
                calendar.encrypted_credentials = box.rotate(calendar.encrypted_credentials)
                if calendar.encrypted_access_token is not None:
                    calendar.encrypted_access_token = box.rotate(calendar.encrypted_access_token)
        if not rows:
            return done
        last_id = rows[-1].id
        done += len(rows)
        if progress is not None:
            progress(done, total)


async def rotate_webhook_secrets(db: Database, box: SecretBox) -> int:
    """Re-encrypt every project's webhook signing secrets (a few per project), in batches by id."""
    done = 0
    last_id = 0
    while True:
        async with db.write() as session:
            stmt = select(WebhookSecret).where(WebhookSecret.id > last_id).order_by(WebhookSecret.id)
            rows = (await session.execute(stmt.limit(BATCH_SIZE))).scalars().all()
            for row in rows:
                row.encrypted_secret = box.rotate(row.encrypted_secret)
        if not rows:
            return done
        last_id = rows[-1].id
        done += len(rows)


async def rotate_connect_secrets(db: Database, box: SecretBox) -> int:
    """Re-encrypt the projects' connect client secrets (one row per project) and the PKCE verifiers of sessions in
    progress (only those still hold one), each in batches."""
    done = 0
    last_project = 0
    while True:
        async with db.write() as session:
            stmt = select(ConnectSettings).where(ConnectSettings.project_id > last_project)
            rows = (await session.execute(stmt.order_by(ConnectSettings.project_id).limit(BATCH_SIZE))).scalars().all()
            for row in rows:
                if row.google_encrypted_secret is not None:
                    row.google_encrypted_secret = box.rotate(row.google_encrypted_secret)
                if row.microsoft_encrypted_secret is not None:
                    row.microsoft_encrypted_secret = box.rotate(row.microsoft_encrypted_secret)
        if not rows:
            break
        last_project = rows[-1].project_id
        done += len(rows)
    last_id = 0
    while True:
        async with db.write() as session:
            pending = select(ConnectSession).where(
                ConnectSession.id > last_id, ConnectSession.encrypted_verifier.is_not(None)
            )
            sessions = (await session.execute(pending.order_by(ConnectSession.id).limit(BATCH_SIZE))).scalars().all()
            for connect_session in sessions:
                assert connect_session.encrypted_verifier is not None
                connect_session.encrypted_verifier = box.rotate(connect_session.encrypted_verifier)
        if not sessions:
            return done
        last_id = sessions[-1].id
