"""Re-encrypt every stored secret under the primary key, in bounded batches, reporting progress."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from calsync.security.secret_box import SecretBox
from calsync.store.db import Database
from calsync.store.models import Calendar, WebhookSecret

BATCH_SIZE = 500


async def rotate_secrets(db: Database, box: SecretBox, progress: Callable[[int, int], None] | None = None) -> int:
    """Calendars (counted and reported) and then webhook signing secrets; returns the number of calendars."""
    count = await _rotate_calendar_secrets(db, box, progress)
    await rotate_webhook_secrets(db, box)
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
