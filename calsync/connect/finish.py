"""The end of a successful connect: the calendar is created through the store functions POST /api/v1/calendars
uses, or, when the project already has a calendar with the session's deduplication key, reconnected with the new
grant (same id, events and bots; its next sync is due now, as after a PATCH of its credentials)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.connect.settings_store import OAuthApp
from calsync.security.secret_box import SecretBox
from calsync.store.models import Calendar, ConnectSession
from calsync.store.queries import calendars as calendar_queries
from calsync.store.queries.unique import DuplicateDeduplicationKey
from calsync.store.work_signal import notify_work_in_transaction


class PlatformMismatch(Exception):
    """The deduplication key names a calendar of the other platform."""


async def _calendar_with_key(session: AsyncSession, project_id: int, key: str) -> Calendar | None:
    stmt = (
        select(Calendar)
        .where(Calendar.project_id == project_id, Calendar.deduplication_key == key, Calendar.deleted_at.is_(None))
        .with_for_update(key_share=True)  # NO KEY UPDATE, as every calendar lock (docs/architecture.md)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


def _reconnect(calendar: Calendar, app: OAuthApp, credentials: bytes, now: datetime) -> None:
    calendar_queries.apply_patch(
        calendar,
        {
            "client_id": app.client_id,
            "encrypted_credentials": credentials,
            # A cached access token belongs to the old grant.
            "encrypted_access_token": None,
            "access_token_expires_at": None,
        },
        now,
    )
    calendar_queries.mark_due(calendar, "patched", now)


async def create_or_reconnect(
    session: AsyncSession,
    row: ConnectSession,
    app: OAuthApp,
    refresh_token: str,
    secrets: SecretBox,
    now: datetime,
) -> Calendar:
    credentials = secrets.encrypt_json({"client_secret": app.client_secret, "refresh_token": refresh_token})
    key = row.deduplication_key
    existing = await _calendar_with_key(session, row.project_id, key) if key is not None else None
    if existing is None:
        new = calendar_queries.NewCalendar(
            platform=app.platform,
            client_id=app.client_id,
            encrypted_credentials=credentials,
            platform_uuid=None,
            deduplication_key=key,
            metadata=row.metadata_,
            account_key=calendar_queries.account_key(app.platform, app.client_id, refresh_token),
        )
        try:
            calendar = await calendar_queries.create_calendar(session, row.project_id, new, now)
        except DuplicateDeduplicationKey:
            # A concurrent create with this key committed first: reconnect that calendar instead.
            existing = await _calendar_with_key(session, row.project_id, key or "")
            if existing is None:
                raise
    if existing is not None:
        if existing.platform != app.platform:
            raise PlatformMismatch
        _reconnect(existing, app, credentials, now)
        calendar = existing
    await notify_work_in_transaction(session)
    return calendar
