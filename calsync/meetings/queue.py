"""The queue of meetings to re-evaluate: rows written by sync pages and rule changes, claimed by the evaluation loop.

Writers only insert (no lock on any meeting row, so a sync page never waits for an evaluation); duplicates are
harmless (an evaluation reads the meeting as it is, and deletes every row it claimed). The queue's claim and
removal are calsync.store.due_work.MEETING_EVALUATIONS."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.store.due_work import MEETING_EVALUATIONS
from calsync.store.models import Bot, CalendarEvent, MeetingEvaluation
from calsync.store.models.bot import LIVE_STATES, BotState

_CHUNK = 500


async def enqueue(session: AsyncSession, project_id: int, meeting_ids: Iterable[str], now: datetime) -> int:
    """Queue meetings for evaluation in the caller's transaction; the caller kicks its work signal after the
    commit (other processes are told by NOTIFY)."""
    rows = [
        {"project_id": project_id, "meeting_object_id": meeting_id, "rule_object_id": None, "created_at": now}
        for meeting_id in sorted(set(meeting_ids))
    ]
    for start in range(0, len(rows), _CHUNK):
        await session.execute(insert(MeetingEvaluation), rows[start : start + _CHUNK])
    if rows:
        await MEETING_EVALUATIONS.notify(session)
    return len(rows)


async def enqueue_window(session: AsyncSession, project_id: int, rule_object_id: str | None, now: datetime) -> int:
    """Queue every meeting of the project that has not ended (one INSERT … SELECT, whatever the number of
    events), tagged with the rule whose change asked for it, if any: its progress is the count of its rows left."""
    meetings = (
        select(
            CalendarEvent.project_id,
            CalendarEvent.meeting_object_id,
            literal(rule_object_id, MeetingEvaluation.rule_object_id.type).label("rule_object_id"),
            literal(now, MeetingEvaluation.created_at.type).label("created_at"),
        )
        .where(
            CalendarEvent.project_id == project_id,
            CalendarEvent.is_deleted.is_(False),
            CalendarEvent.end_time > now,
            CalendarEvent.meeting_object_id.is_not(None),
        )
        .distinct()
    )
    result: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
        insert(MeetingEvaluation).from_select(
            ["project_id", "meeting_object_id", "rule_object_id", "created_at"], meetings
        )
    )
    await MEETING_EVALUATIONS.notify(session)
    return int(result.rowcount or 0)


async def meetings_of_calendar(session: AsyncSession, calendar_id: int) -> list[str]:
    statement = (
        select(CalendarEvent.meeting_object_id)
        .where(
            CalendarEvent.calendar_id == calendar_id,
            CalendarEvent.is_deleted.is_(False),
            CalendarEvent.meeting_object_id.is_not(None),
        )
        .distinct()
    )
    return [meeting_id for meeting_id in (await session.execute(statement)).scalars() if meeting_id]


async def meetings_served_from(session: AsyncSession, calendar_id: int) -> list[str]:
    """The meetings whose live rule bot sits on this calendar (a disconnected calendar's: they move to a connected
    copy when the meeting has one)."""
    statement = (
        select(Bot.meeting_object_id)
        .where(Bot.calendar_id == calendar_id, Bot.meeting_object_id.is_not(None), Bot.state.in_(LIVE_STATES))
        .distinct()
    )
    return [meeting_id for meeting_id in (await session.execute(statement)).scalars() if meeting_id]


async def meetings_waiting_for(session: AsyncSession, calendar_id: int) -> list[str]:
    """This calendar's meetings whose rule bot waits paused on another (disconnected) calendar: when this one
    (re)connects, the bot moves onto its copy here."""
    statement = (
        select(CalendarEvent.meeting_object_id)
        .join(Bot, Bot.meeting_object_id == CalendarEvent.meeting_object_id)
        .where(
            CalendarEvent.calendar_id == calendar_id,
            CalendarEvent.is_deleted.is_(False),
            Bot.project_id == CalendarEvent.project_id,
            Bot.state == BotState.PAUSED.value,
            Bot.calendar_id != calendar_id,
        )
        .distinct()
    )
    return [meeting_id for meeting_id in (await session.execute(statement)).scalars() if meeting_id]


async def bots_with_other_copies(session: AsyncSession, calendar_id: int, project_id: int) -> set[int]:
    """The live rule bots on this calendar whose meeting has a copy on another calendar: when this calendar is
    deleted they stay live, and the meeting's evaluation moves them onto a remaining copy (the same bot)."""
    copy_elsewhere = (
        select(CalendarEvent.id)
        .where(
            CalendarEvent.project_id == project_id,
            CalendarEvent.meeting_object_id == Bot.meeting_object_id,
            CalendarEvent.calendar_id != calendar_id,
            CalendarEvent.is_deleted.is_(False),
        )
        .exists()
    )
    statement = select(Bot.id).where(
        Bot.calendar_id == calendar_id,
        Bot.meeting_object_id.is_not(None),
        Bot.state.in_(LIVE_STATES),
        copy_elsewhere,
    )
    return set((await session.execute(statement)).scalars())


async def remaining(session: AsyncSession, rule_object_id: str) -> int:
    statement = select(func.count()).where(MeetingEvaluation.rule_object_id == rule_object_id)
    return int((await session.execute(statement)).scalar_one())


async def claim(session: AsyncSession, limit: int, after: int = 0) -> list[MeetingEvaluation]:
    """The oldest queued rows after id `after`, skipping rows another evaluator holds (PostgreSQL; SQLite's writer
    is exclusive). `after` lets an evaluator that drains a long queue start past the rows it deleted: on
    PostgreSQL their dead index entries stay at the head of the queue until vacuum, and a claim from the start
    would walk them all every time (quadratic over a 50,000-meeting re-evaluation)."""
    return await MEETING_EVALUATIONS.take(session, None, MeetingEvaluation.id > after, limit=limit)


async def done(session: AsyncSession, rows: list[MeetingEvaluation]) -> None:
    await MEETING_EVALUATIONS.remove(session, [row.id for row in rows])
