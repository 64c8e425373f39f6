"""Bots in the store: create, read, list, the bots of a page of events, and an event read for a bot to follow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.bots import rules
from calsync.bots.payloads import BOT_ID_PREFIX
from calsync.ids import new_id
from calsync.store.keyset import Keyset, KeysetPage, SeekKey, fetch_keyset_page
from calsync.store.models import Bot, Calendar, CalendarEvent
from calsync.store.queries.unique import add_with_deduplication_key

# Orderings of the list; each filter combination with one of them is one index range (calsync.store.models.bot).
ORDERINGS = ("-created_at", "created_at", "join_at", "-join_at")


@dataclass(frozen=True)
class NewBot:
    meeting_url: str
    join_at: datetime
    dispatch_at: datetime
    join_offset_seconds: int
    dispatch_lead_seconds: int
    bot_name: str | None
    metadata: dict[str, str] | None
    deduplication_key: str | None
    calendar: Calendar | None = None  # with `event`: the bot follows that event
    event: CalendarEvent | None = None


async def create_bot(session: AsyncSession, project_id: int, new: NewBot, now: datetime) -> Bot:
    """Insert a scheduled bot, due at its dispatch time (at once if that has passed). The partial unique index on
    live bots' deduplication keys decides races: of two concurrent creates with one key exactly one commits."""
    bot = Bot(
        object_id=new_id(BOT_ID_PREFIX),
        project_id=project_id,
        calendar_id=new.calendar.id if new.calendar else None,
        calendar_object_id=new.calendar.object_id if new.calendar else None,
        event_id=new.event.id if new.event else None,
        event_object_id=new.event.object_id if new.event else None,
        state=rules.SCHEDULED,
        state_reason=None,
        bot_name=new.bot_name,
        metadata_=new.metadata,
        deduplication_key=new.deduplication_key,
        meeting_url=new.meeting_url,
        join_at=new.join_at,
        dispatch_at=new.dispatch_at,
        join_offset_seconds=new.join_offset_seconds,
        dispatch_lead_seconds=new.dispatch_lead_seconds,
        dispatch_due_at=new.dispatch_at,
        created_at=now,
        updated_at=now,
    )
    await add_with_deduplication_key(session, bot)
    return bot


async def get_bot(session: AsyncSession, project_id: int, object_id: str) -> Bot | None:
    statement = select(Bot).where(Bot.project_id == project_id, Bot.object_id == object_id)
    return (await session.execute(statement)).scalar_one_or_none()


@dataclass(frozen=True)
class BotFilters:
    state: str | None = None
    calendar_object_id: str | None = None
    event_object_id: str | None = None
    join_at_gte: datetime | None = None
    join_at_lte: datetime | None = None
    deduplication_key: str | None = None


async def list_bots(
    session: AsyncSession,
    project_id: int,
    filters: BotFilters,
    *,
    ordering: str,
    after: SeekKey | None,
    backwards: bool,
    limit: int,
) -> KeysetPage[Bot]:
    statement = select(Bot).where(Bot.project_id == project_id)
    equal: dict[str, Any] = {
        "state": filters.state,
        "calendar_object_id": filters.calendar_object_id,
        "event_object_id": filters.event_object_id,
        "deduplication_key": filters.deduplication_key,
    }
    for name, value in equal.items():
        if value is not None:
            statement = statement.where(getattr(Bot, name) == value)
    if filters.join_at_gte is not None:
        statement = statement.where(Bot.join_at >= filters.join_at_gte)
    if filters.join_at_lte is not None:
        statement = statement.where(Bot.join_at <= filters.join_at_lte)
    column = Bot.join_at if ordering.lstrip("-") == "join_at" else Bot.created_at
    keyset = Keyset(column, Bot.id, descending=ordering.startswith("-"), after=after, backwards=backwards, limit=limit)
    return await fetch_keyset_page(session, statement, keyset)


async def bots_of_events(
    session: AsyncSession, event_ids: Sequence[int], *, project_id: int | None = None
) -> dict[int, list[Bot]]:
    """Each event's bots in every state, oldest first: one indexed query for a whole page of events (scoped to
    `project_id` too when given: the dashboard scopes every query to the signed-in project)."""
    if not event_ids:
        return {}
    statement = select(Bot).where(Bot.event_id.in_(list(event_ids)))
    if project_id is not None:
        statement = statement.where(Bot.project_id == project_id)
    rows = await session.execute(statement.order_by(Bot.created_at, Bot.id))
    found: dict[int, list[Bot]] = {}
    for bot in rows.scalars():
        assert bot.event_id is not None
        found.setdefault(bot.event_id, []).append(bot)
    return found


async def event_to_follow(
    session: AsyncSession, project_id: int, event_object_id: str
) -> tuple[CalendarEvent, Calendar] | None:
    """The project's event and its calendar, read under a share lock on the calendar row.

    The lock waits for a sync transaction of the calendar in flight (each holds the calendar row) and holds the
    next one off until the caller commits. So a bot created or re-timed from the event's state either sees a
    change of the event, or is seen by the sync page that makes it: never neither (lock order: calendar first)."""
    found = (
        await session.execute(
            select(CalendarEvent.calendar_id).where(
                CalendarEvent.project_id == project_id, CalendarEvent.object_id == event_object_id
            )
        )
    ).scalar_one_or_none()
    if found is None:
        return None
    calendar = (
        await session.execute(
            select(Calendar)
            .where(Calendar.id == found, Calendar.deleted_at.is_(None))
            .with_for_update(read=True)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if calendar is None:
        return None
    event = (
        await session.execute(
            select(CalendarEvent)
            .where(CalendarEvent.calendar_id == calendar.id, CalendarEvent.object_id == event_object_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    return (event, calendar) if event is not None else None


async def due_by(session: AsyncSession, project_id: int, until: datetime, *, limit: int) -> list[Bot]:
    """The project's scheduled bots due at or before `until` (overdue ones first), in due order. One range of the
    dispatch index: only scheduled bots have a due time, so the range holds the bots of every project due by
    then, not the project's whole history."""
    statement = (
        select(Bot)
        .where(Bot.dispatch_due_at <= until, Bot.project_id == project_id)
        .order_by(Bot.dispatch_due_at, Bot.id)
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())


async def count_due_by(session: AsyncSession, project_id: int, until: datetime, *, cap: int) -> int:
    """How many of the project's scheduled bots are due by `until`, counted up to `cap` (one bounded range)."""
    matching = (
        select(literal(1)).where(Bot.dispatch_due_at <= until, Bot.project_id == project_id).limit(cap).subquery()
    )
    return int((await session.execute(select(func.count()).select_from(matching))).scalar_one())


async def events_of_bots(session: AsyncSession, project_id: int, bots: Sequence[Bot]) -> dict[int, CalendarEvent]:
    """The events the bots follow, by row id (one primary-key lookup for all; a deleted calendar's are gone)."""
    ids = sorted({bot.event_id for bot in bots if bot.event_id is not None})
    if not ids:
        return {}
    statement = select(CalendarEvent).where(CalendarEvent.id.in_(ids), CalendarEvent.project_id == project_id)
    return {event.id: event for event in (await session.execute(statement)).scalars()}
