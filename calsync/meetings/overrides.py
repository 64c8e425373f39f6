"""A meeting's bot override, set and re-evaluated in the caller's transaction: the one function behind
`PUT /api/v1/meetings/{id}/bot_override` and the dashboard's override buttons, so both answer alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.meetings import queries
from calsync.meetings.evaluate import evaluate_meetings
from calsync.store.models import Bot, Meeting

OVERRIDES = ("always", "never")


@dataclass(frozen=True)
class OverrideSet:
    meeting: Meeting | None  # as re-evaluated; None when its last event went meanwhile
    bot: Bot | None  # the live bot serving it now
    wake: bool  # a worker has something new to do after the commit


async def set_bot_override(
    session: AsyncSession,
    project_id: int,
    object_id: str,
    value: str | None,
    now: datetime,
    *,
    stand_down: timedelta,
    default_lead: int,
) -> OverrideSet | None:
    """`always`, `never` or None (the rules decide again) on the project's meeting, which is evaluated at once;
    None when the project has no such meeting."""
    statement = (
        select(Meeting)
        .where(Meeting.project_id == project_id, Meeting.object_id == object_id)
        .with_for_update(key_share=True)
    )
    meeting = (await session.execute(statement)).scalar_one_or_none()
    if meeting is None:
        return None
    meeting.bot_override = value
    wake = await evaluate_meetings(
        session, project_id, [object_id], now, stand_down=stand_down, default_lead=default_lead
    )
    found = await queries.get_meeting(session, project_id, object_id)
    bots = await queries.bots_by_id(session, project_id, [found.bot_object_id if found else None])
    bot = bots.get(found.bot_object_id or "") if found is not None else None
    return OverrideSet(found, bot, wake)
