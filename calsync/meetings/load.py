"""What a meeting evaluation reads, and the locks it takes while reading (docs/architecture.md, "Lock order"):
meeting rows in id order, then the rule bots of those meetings in ascending id order. Every read is one statement
per chunk of a few hundred ids, whatever the batch."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlalchemy import ColumnElement, String, column, exists, select, values
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.meetings import decide, meeting_rows
from calsync.meetings.rows import EVENT_COLUMNS, EventRow
from calsync.store.models import Bot, BotRule, Calendar, CalendarEvent, CalendarState, Meeting, SeriesOverride
from calsync.store.models.bot import LIVE_STATES

IN_CHUNK = 500
T = TypeVar("T")


@dataclass
class Members:
    """The live member events of a batch's meetings, with their calendars."""

    by_meeting: dict[str, list[decide.Member]] = field(default_factory=lambda: defaultdict(list))
    events: dict[int, EventRow] = field(default_factory=dict)  # by primary key
    calendars: dict[int, Calendar] = field(default_factory=dict)

    def of(self, meeting_id: str) -> list[decide.Member]:
        return self.by_meeting.get(meeting_id, [])


def chunks(items: Sequence[T]) -> list[Sequence[T]]:
    return [items[start : start + IN_CHUNK] for start in range(0, len(items), IN_CHUNK)]


async def active_rules(session: AsyncSession, project_id: int) -> dict[str, BotRule]:
    found = await session.execute(select(BotRule).where(BotRule.project_id == project_id, BotRule.is_active.is_(True)))
    return {rule.object_id: rule for rule in found.scalars()}


def _meeting_of_bot_in(session: AsyncSession, chunk: Sequence[str]) -> ColumnElement[bool]:
    """PostgreSQL: `bots.meeting_object_id IN (SELECT … FROM (VALUES …))`. The bots table grows from nothing as
    rules create bots, so its statistics lag; with a plain IN list of 500 parameters PostgreSQL then scans it
    comparing every row with every parameter (0.13 s per batch at 12,500 bots, bench/meeting_reevaluation.py). A
    VALUES list is joined instead: by the index, or by one hash (milliseconds) whatever the estimate. (SQLite
    looks an IN list up in a temporary index already, and has no column list on a VALUES alias.)"""
    if session.get_bind().dialect.name != "postgresql":
        return Bot.meeting_object_id.in_(chunk)
    wanted = values(column("id", String), name="wanted").data([(meeting,) for meeting in chunk])
    return Bot.meeting_object_id.in_(select(wanted.c.id))


async def with_meetings_left(session: AsyncSession, project_id: int, ids: list[str]) -> list[str]:
    """`ids` and the meetings the events of their live rule bots have moved to (the organizer moved the meeting):
    evaluated together, the emptied meeting's bot goes with its event, the same bot. (A sync queues both meetings
    of an event that moves, so whichever is evaluated first brings the other.) Two lookups by indexed key, which
    no planner estimate can turn into a scan of the events."""
    found = set(ids)
    carried: dict[int, str] = {}
    for chunk in chunks(ids):
        statement = select(Bot.event_id, Bot.meeting_object_id).where(
            _meeting_of_bot_in(session, chunk), Bot.state.in_(LIVE_STATES), Bot.event_id.is_not(None)
        )
        rows = (await session.execute(statement)).all()
        carried.update((event_id, meeting) for event_id, meeting in rows if event_id and meeting)
    for event_chunk in chunks(sorted(carried)):
        statement = select(CalendarEvent.id, CalendarEvent.meeting_object_id).where(
            CalendarEvent.id.in_(event_chunk), CalendarEvent.project_id == project_id
        )
        for event_id, meeting in (await session.execute(statement)).all():
            if meeting and meeting != carried[event_id]:
                found.add(meeting)
    return sorted(found)


async def stored_meetings(session: AsyncSession, project_id: int, ids: Sequence[str]) -> set[str]:
    """Which of `ids` have a row (read, not locked)."""
    existing: set[str] = set()
    for chunk in chunks(ids):
        # By the unique object id alone, the project checked on the rows: a planner without statistics (a young
        # table) otherwise walks the project's whole index range and filters 500 ids out of it.
        present = select(Meeting.object_id, Meeting.project_id).where(Meeting.object_id.in_(chunk))
        existing.update(object_id for object_id, owner in (await session.execute(present)).all() if owner == project_id)
    return existing


async def lock_meetings(session: AsyncSession, project_id: int, ids: list[str], now: datetime) -> dict[str, Meeting]:
    """The batch's meeting rows, inserted where missing, then all locked in id order (one order for every
    evaluator: they never deadlock on meeting rows)."""
    existing = await stored_meetings(session, project_id, ids)
    missing = {object_id: meeting_rows.placeholder() for object_id in ids if object_id not in existing}
    # A racing evaluator's insert of the same meeting wins; its row is locked below.
    await meeting_rows.insert_meetings(session, project_id, missing, now)
    found: dict[str, Meeting] = {}
    for chunk in chunks(ids):
        statement = (
            select(Meeting)
            .where(Meeting.object_id.in_(chunk))
            .order_by(Meeting.object_id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
        locked = (await session.execute(statement)).scalars()
        found.update((meeting.object_id, meeting) for meeting in locked if meeting.project_id == project_id)
    return found


async def members(session: AsyncSession, project_id: int, ids: Sequence[str]) -> Members:
    """The live member events of the meetings `ids` (on calendars not deleted), oldest first, and their calendars."""
    loaded = Members()
    events: list[EventRow] = []
    for chunk in chunks(ids):
        # Named columns, not ORM instances: no identity map, no `raw` (the bulk of a row) decoded.
        statement = select(*EVENT_COLUMNS).where(
            CalendarEvent.project_id == project_id,
            CalendarEvent.meeting_object_id.in_(chunk),
            CalendarEvent.is_deleted.is_(False),
        )
        events.extend(EventRow.of(row) for row in (await session.execute(statement)).all())
    calendar_ids = sorted({event.calendar_id for event in events})
    for calendar_chunk in chunks(calendar_ids):
        found = await session.execute(select(Calendar).where(Calendar.id.in_(calendar_chunk)))
        loaded.calendars.update((calendar.id, calendar) for calendar in found.scalars())
    series = await _series_overrides(session, events)
    for event in sorted(events, key=lambda e: e.id):
        calendar = loaded.calendars.get(event.calendar_id)
        if calendar is None or calendar.deleted_at is not None or event.meeting_object_id is None:
            continue
        loaded.events[event.id] = event
        loaded.by_meeting[event.meeting_object_id].append(
            decide.Member(
                event_id=event.object_id,
                calendar_id=calendar.object_id,
                start_time=event.start_time,
                end_time=event.end_time,
                name=event.name,
                meeting_url=event.meeting_url,
                meeting_platform=event.meeting_platform,
                ical_uid=event.ical_uid,
                is_all_day=event.is_all_day,
                organizer_email=(event.organizer or {}).get("email"),
                attendees=tuple(event.attendees or ()),
                owner_email=calendar.owner_email,
                calendar_metadata=calendar.metadata_,
                connected=calendar.state == CalendarState.CONNECTED.value,
                series_override=series.get((event.calendar_id, event.recurring_event_id or "")),
            )
        )
    return loaded


async def _series_overrides(session: AsyncSession, events: list[EventRow]) -> dict[tuple[int, str], str]:
    keys = {(event.calendar_id, event.recurring_event_id) for event in events if event.recurring_event_id}
    if not keys:
        return {}
    calendars = sorted({calendar_id for calendar_id, _ in keys})
    found: dict[tuple[int, str], str] = {}
    for chunk in chunks(calendars):
        rows = await session.execute(select(SeriesOverride).where(SeriesOverride.calendar_id.in_(chunk)))
        for row in rows.scalars():
            if (row.calendar_id, row.recurring_event_id) in keys:
                found[(row.calendar_id, row.recurring_event_id)] = row.bot_override
    return found


async def rule_bots(session: AsyncSession, ids: list[str]) -> list[Bot]:
    """The rule bots of the batch's meetings, every state (an ended one may come back), locked in ascending id
    order: first their ids (stable: only an evaluation holding the meeting's row changes which bots it has), then
    the rows by id. Every other bot lock (a sync page's bots, a calendar's, one bot's through the API) is taken in
    one ascending statement too, so two of them never wait for each other in a cycle, whatever the chunks."""
    found: set[int] = set()
    for chunk in chunks(ids):
        found.update((await session.execute(select(Bot.id).where(_meeting_of_bot_in(session, chunk)))).scalars())
    bots: list[Bot] = []
    for id_chunk in chunks(sorted(found)):
        statement = (
            select(Bot)
            .where(Bot.id.in_(id_chunk))
            .order_by(Bot.id)
            .with_for_update(of=Bot, key_share=True)
            .execution_options(populate_existing=True)
        )
        bots.extend((await session.execute(statement)).scalars())
    return bots


async def manual_bots(session: AsyncSession, events: dict[int, EventRow]) -> dict[str, Bot]:
    """The oldest live bot the application created (`POST /api/v1/bots` with `calendar_event_id`) on each meeting's
    member events (`events`, by primary key). Read, not locked: the evaluation never changes them (creating or
    ending one queues its meeting, calsync.meetings.manual)."""
    found: dict[str, Bot] = {}
    for chunk in chunks(sorted(events)):
        statement = (
            select(Bot)
            .where(Bot.event_id.in_(chunk), Bot.meeting_object_id.is_(None), Bot.state.in_(LIVE_STATES))
            .order_by(Bot.id)
        )
        for bot in (await session.execute(statement)).scalars():
            event = events.get(bot.event_id or 0)
            if event is not None and event.meeting_object_id:
                found.setdefault(event.meeting_object_id, bot)
    return found


async def project_has_bots(session: AsyncSession, project_id: int) -> bool:
    """Whether any bot of the project exists, in any state (one probe of its bots' project index)."""
    return bool((await session.execute(select(exists().where(Bot.project_id == project_id)))).scalar())


async def meetings_with_bots(session: AsyncSession, ids: Sequence[str], events: dict[int, EventRow]) -> set[str]:
    """Which of the meetings `ids` a bot may concern: one has a rule bot of the meeting (any state), or a bot (made
    by hand, or a rule's that came with its event) is on one of its member events `events`."""
    found: set[str] = set()
    for chunk in chunks(ids):
        statement = select(Bot.meeting_object_id).where(_meeting_of_bot_in(session, chunk))
        found.update(meeting for meeting in (await session.execute(statement)).scalars() if meeting)
    for event_chunk in chunks(sorted(events)):
        on_events = select(Bot.event_id).where(Bot.event_id.in_(event_chunk))
        for event_id in (await session.execute(on_events)).scalars():
            event = events.get(event_id or 0)
            if event is not None and event.meeting_object_id:
                found.add(event.meeting_object_id)
    return found
