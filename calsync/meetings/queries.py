"""Meetings in the store for the API: list (keyset pages by start time), one meeting, and their bots."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.store.keyset import Keyset, KeysetPage, SeekKey, fetch_keyset_page
from calsync.store.models import Bot, Calendar, CalendarEvent, Meeting

ORDERING = "start_time"


@dataclass(frozen=True)
class MeetingFilters:
    start_time_gte: datetime | None = None
    start_time_lte: datetime | None = None
    calendar_object_id: str | None = None
    has_bot: bool | None = None
    meeting_platform: str | None = None


async def list_meetings(
    session: AsyncSession,
    project_id: int,
    filters: MeetingFilters,
    *,
    after: SeekKey | None,
    backwards: bool,
    limit: int,
) -> KeysetPage[Meeting]:
    statement = select(Meeting).where(Meeting.project_id == project_id)
    if filters.has_bot is not None:
        statement = statement.where(Meeting.has_bot.is_(filters.has_bot))
    if filters.meeting_platform is not None:
        statement = statement.where(Meeting.meeting_platform == filters.meeting_platform)
    if filters.start_time_gte is not None:
        statement = statement.where(Meeting.start_time >= filters.start_time_gte)
    if filters.start_time_lte is not None:
        statement = statement.where(Meeting.start_time <= filters.start_time_lte)
    if filters.calendar_object_id is not None:
        # A meeting with a live event on that calendar (the events' (project, meeting) index).
        member = (
            select(CalendarEvent.id)
            .join(Calendar, Calendar.id == CalendarEvent.calendar_id)
            .where(
                CalendarEvent.project_id == project_id,
                CalendarEvent.meeting_object_id == Meeting.object_id,
                CalendarEvent.is_deleted.is_(False),
                Calendar.object_id == filters.calendar_object_id,
            )
        )
        statement = statement.where(exists(member))
    keyset = Keyset(Meeting.start_time, Meeting.id, descending=False, after=after, backwards=backwards, limit=limit)
    return await fetch_keyset_page(session, statement, keyset)


async def get_meeting(session: AsyncSession, project_id: int, object_id: str) -> Meeting | None:
    statement = select(Meeting).where(Meeting.project_id == project_id, Meeting.object_id == object_id)
    return (await session.execute(statement)).scalar_one_or_none()


async def bots_by_id(session: AsyncSession, project_id: int, object_ids: Sequence[str | None]) -> dict[str, Bot]:
    """The bots serving a page of meetings: one query."""
    wanted = sorted({object_id for object_id in object_ids if object_id})
    if not wanted:
        return {}
    rows = await session.execute(select(Bot).where(Bot.project_id == project_id, Bot.object_id.in_(wanted)))
    return {bot.object_id: bot for bot in rows.scalars()}
