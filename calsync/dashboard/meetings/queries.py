"""Reads of the meetings pages that the API does not need (kept here, not in calsync.meetings.queries, so that the
meetings package stays the API's): the rules and member events a page of meetings names, one query each."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.store.models import BotRule, Calendar, CalendarEvent


async def rules_by_id(session: AsyncSession, project_id: int, object_ids: Iterable[str | None]) -> dict[str, BotRule]:
    """The project's rules among `object_ids` (a deleted rule is simply absent)."""
    wanted = sorted({object_id for object_id in object_ids if object_id})
    if not wanted:
        return {}
    rows = await session.execute(select(BotRule).where(BotRule.project_id == project_id, BotRule.object_id.in_(wanted)))
    return {rule.object_id: rule for rule in rows.scalars()}


async def events_by_id(session: AsyncSession, project_id: int, object_ids: Iterable[str]) -> dict[str, CalendarEvent]:
    """The project's stored events among `object_ids`, on calendars that are not deleted (a meeting's members)."""
    wanted = sorted(set(object_ids))
    if not wanted:
        return {}
    rows = await session.execute(
        select(CalendarEvent)
        .join(Calendar, Calendar.id == CalendarEvent.calendar_id)
        .where(
            CalendarEvent.project_id == project_id,
            CalendarEvent.object_id.in_(wanted),
            Calendar.deleted_at.is_(None),
        )
    )
    return {event.object_id: event for event in rows.scalars()}
