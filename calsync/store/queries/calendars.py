"""Calendars: create, read, list, update, delete, and marking them due for a sync."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.ids import new_id
from calsync.store.keyset import Keyset, KeysetPage, SeekKey, fetch_keyset_page
from calsync.store.models import Calendar, CalendarEvent, CalendarState, PushChannel
from calsync.store.queries.unique import add_with_deduplication_key


@dataclass(frozen=True)
class NewCalendar:
    platform: str
    client_id: str
    encrypted_credentials: bytes
    platform_uuid: str | None
    deduplication_key: str | None
    metadata: dict[str, str] | None
    account_key: str = ""


def account_key(platform: str, client_id: str, refresh_token: str) -> str:
    return hashlib.sha256(f"{platform}\0{client_id}\0{refresh_token}".encode()).hexdigest()[:32]


async def create_calendar(session: AsyncSession, project_id: int, new: NewCalendar, now: datetime) -> Calendar:
    """Insert, due for its first sync now. The unique (project, deduplication_key) constraint decides races:
    of two concurrent creates with one key exactly one commits."""
    calendar = Calendar(
        object_id=new_id("cal_"),
        project_id=project_id,
        platform=new.platform,
        state=CalendarState.CONNECTED.value,
        metadata_=new.metadata,
        deduplication_key=new.deduplication_key,
        client_id=new.client_id,
        platform_uuid=new.platform_uuid,
        account_key=new.account_key,
        encrypted_credentials=new.encrypted_credentials,
        created_at=now,
        updated_at=now,
        sync_due_at=now,
        sync_reason="created",
        consecutive_failures=0,
        push_state="none",
    )
    await add_with_deduplication_key(session, calendar)
    return calendar


async def get_calendar(
    session: AsyncSession, project_id: int, object_id: str, *, for_update: bool = False
) -> Calendar | None:
    stmt = select(Calendar).where(
        Calendar.project_id == project_id, Calendar.object_id == object_id, Calendar.deleted_at.is_(None)
    )
    if for_update:
        # NO KEY UPDATE, as every calendar lock (docs/architecture.md, "Lock order"); a DELETE upgrades it itself.
        stmt = stmt.with_for_update(key_share=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def find_calendar(session: AsyncSession, object_id: str, *, for_update: bool = False) -> Calendar | None:
    """A calendar by its id in any project: for operators (the CLI), never for the API."""
    stmt = select(Calendar).where(Calendar.object_id == object_id, Calendar.deleted_at.is_(None))
    if for_update:
        stmt = stmt.with_for_update(key_share=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_all_calendars(
    session: AsyncSession, project_id: int | None, filters: CalendarFilters, *, limit: int
) -> list[Calendar]:
    """The newest calendars of one project or of all: for operators (the CLI)."""
    stmt = select(Calendar).where(Calendar.deleted_at.is_(None))
    if project_id is not None:
        stmt = stmt.where(Calendar.project_id == project_id)
    stmt = _filtered(stmt, filters).order_by(Calendar.created_at.desc(), Calendar.id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars().all())


def _filtered(stmt: Select[Calendar], filters: CalendarFilters) -> Select[Calendar]:
    if filters.deduplication_key is not None:
        stmt = stmt.where(Calendar.deduplication_key == filters.deduplication_key)
    if filters.state is not None:
        stmt = stmt.where(Calendar.state == filters.state)
    if filters.platform is not None:
        stmt = stmt.where(Calendar.platform == filters.platform)
    return stmt


async def find_calendar_ids(
    session: AsyncSession, project_id: int, *, object_id: str | None = None, deduplication_key: str | None = None
) -> list[int]:
    stmt = select(Calendar.id).where(Calendar.project_id == project_id, Calendar.deleted_at.is_(None))
    if object_id is not None:
        stmt = stmt.where(Calendar.object_id == object_id)
    if deduplication_key is not None:
        stmt = stmt.where(Calendar.deduplication_key == deduplication_key)
    return list((await session.execute(stmt)).scalars().all())


@dataclass(frozen=True)
class CalendarFilters:
    deduplication_key: str | None = None
    state: str | None = None
    platform: str | None = None


async def list_calendars(
    session: AsyncSession,
    project_id: int,
    filters: CalendarFilters,
    *,
    after: SeekKey | None,
    backwards: bool,
    limit: int,
) -> KeysetPage[Calendar]:
    stmt = _filtered(select(Calendar).where(Calendar.project_id == project_id, Calendar.deleted_at.is_(None)), filters)
    return await fetch_keyset_page(
        session,
        stmt,
        Keyset(Calendar.created_at, Calendar.id, descending=True, after=after, backwards=backwards, limit=limit),
    )


def mark_due(calendar: Calendar, reason: str, due_at: datetime) -> None:
    """Bring the calendar's next sync forward to `due_at` (never push it back): a burst of requests moves
    one due time instead of queueing many jobs."""
    if calendar.sync_due_at is None or due_at < calendar.sync_due_at:
        calendar.sync_due_at = due_at
        calendar.sync_reason = reason


async def delete_calendar(session: AsyncSession, calendar: Calendar, now: datetime) -> None:
    """Delete the calendar and its events now. If it has push channels open on the platform, the row stays
    (invisible to the API, its deduplication key released) until a worker has stopped them remotely."""
    await session.execute(delete(CalendarEvent).where(CalendarEvent.calendar_id == calendar.id))
    has_channels = (
        await session.execute(select(PushChannel.id).where(PushChannel.calendar_id == calendar.id).limit(1))
    ).first() is not None
    if not has_channels:
        await session.delete(calendar)
        return
    calendar.deleted_at = now
    calendar.deduplication_key = None
    calendar.sync_due_at = now
    calendar.sync_reason = "deleted"


def apply_patch(calendar: Calendar, changes: dict[str, Any], now: datetime) -> None:
    for name, value in changes.items():
        setattr(calendar, name, value)
    calendar.updated_at = now
