"""Evaluating queued meetings: membership, decision, and the one bot each meeting gets — a batch per transaction.

One transaction takes a batch of queued rows (SKIP LOCKED), or the meetings of one project's next event changes
(calsync.meetings.scan, the project's cursor locked), and for each project in it:

1. inserts the rows of meetings not stored yet (ON CONFLICT DO NOTHING: a racing evaluator's insert wins) and locks
   the batch's meeting rows in id order (`FOR NO KEY UPDATE`): evaluations of one meeting are serialized, and every
   read below sees what the previous one committed;
2. reads the members (live events with the meeting's id, one indexed query for the batch), the active rules, the
   series overrides, and locks the rule bots of the batch's meetings in ascending id order;
3. decides (calsync.meetings.decide, pure) and makes the bots follow the decision: keep the meeting's bot (moved
   onto a member that matches when its own event no longer does), revive it, adopt the bot of an emptied meeting
   whose event moved here, create one, or cancel it with a reason;
4. writes the meeting rows (or deletes the rows of meetings left without events), the bots' webhooks, and deletes
   the queue rows it took.

Lock order (docs/architecture.md): a scan cursor, meeting rows, then bot rows, then outbox rows. No calendar row and no change
clock are taken: a sync page never waits for an evaluation, and an evaluation never waits for a sync page's clock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, column, select, values
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.bots import rules as bot_rules
from calsync.bots.lifecycle import BotChanges, event_meeting, facts
from calsync.bots.payloads import BOT_ID_PREFIX
from calsync.ids import new_id
from calsync.meetings import decide, queue, scan
from calsync.store.models import Bot, BotRule, Calendar, CalendarEvent, CalendarState, Meeting, Project, SeriesOverride
from calsync.store.models.bot import LIVE_STATES

# What an evaluation reads of a member event.
_EVENT_COLUMNS = (
    CalendarEvent.id,
    CalendarEvent.object_id,
    CalendarEvent.calendar_id,
    CalendarEvent.meeting_object_id,
    CalendarEvent.name,
    CalendarEvent.start_time,
    CalendarEvent.end_time,
    CalendarEvent.is_all_day,
    CalendarEvent.is_deleted,
    CalendarEvent.meeting_url,
    CalendarEvent.meeting_platform,
    CalendarEvent.ical_uid,
    CalendarEvent.recurring_event_id,
    CalendarEvent.organizer,
    CalendarEvent.attendees,
)

# Meetings per transaction: a few hundred keep each transaction to milliseconds of locks and a handful of queries.
BATCH_SIZE = 500
IN_CHUNK = 500

# Why a rule's bot ended; an end of these is undone when the meeting is selected again (the same bot comes back).
NOT_SELECTED = bot_rules.Reason("meeting_not_selected", "No rule selects the meeting any more.")
OVERRIDE_NEVER = bot_rules.Reason("bot_override_never", "The meeting's bot override is `never`.")
NO_EVENTS = bot_rules.Reason("meeting_has_no_events", "None of the meeting's calendar events remains.")
SELECTED = bot_rules.Reason("meeting_selected", "The meeting is selected again.")
MOVED_TO_CONNECTED = bot_rules.Reason(
    "moved_to_connected_calendar", "The bot's calendar is disconnected; it serves the meeting from a connected copy."
)
MANUAL_BOT = bot_rules.Reason(
    "meeting_has_manual_bot", "A bot the application created on one of the meeting's events serves it."
)
MEETING_CAUSED_ENDS = frozenset({NOT_SELECTED.code, OVERRIDE_NEVER.code, NO_EVENTS.code, MANUAL_BOT.code})


@dataclass
class Evaluated:
    meetings: int = 0
    wake: bool = False
    last_id: int = 0  # the highest queue row id taken


@dataclass
class _Context:
    """What one project's evaluation reads once."""

    session: AsyncSession
    project_id: int
    now: datetime
    stand_down: timedelta
    default_lead: int
    rules: dict[str, BotRule]
    internal_domains: frozenset[str]
    changes: BotChanges
    events: dict[str, Any] = field(default_factory=dict)  # member events (rows of _EVENT_COLUMNS) by object id
    events_by_pk: dict[int, Any] = field(default_factory=dict)
    calendars: dict[int, Calendar] = field(default_factory=dict)


async def evaluate_batch(
    session: AsyncSession,
    now: datetime,
    *,
    stand_down: timedelta,
    default_lead: int,
    limit: int = BATCH_SIZE,
    after: int = 0,
) -> Evaluated:
    claimed = await queue.claim(session, limit, after)
    if not claimed:
        return Evaluated()
    by_project: dict[int, set[str]] = defaultdict(set)
    for row in claimed:
        by_project[row.project_id].add(row.meeting_object_id)
    result = Evaluated()
    for project_id in sorted(by_project):
        changes = await _evaluate_project(
            session, project_id, sorted(by_project[project_id]), now, stand_down=stand_down, default_lead=default_lead
        )
        await changes.write(session, now)
        result.meetings += len(by_project[project_id])
        result.wake = result.wake or changes.wake
    await queue.done(session, claimed)
    result.last_id = max(row.id for row in claimed)
    return result


async def scan_batch(
    session: AsyncSession, now: datetime, *, stand_down: timedelta, default_lead: int, limit: int = BATCH_SIZE
) -> Evaluated:
    """The meetings of one project's next event changes (calsync.meetings.scan), evaluated; the project's cursor
    moves past them in the same transaction. `meetings` is at least 1 when the cursor moved (the caller goes on)."""
    cursor = await scan.claim(session)
    if cursor is None:
        return Evaluated()
    ids, last = await scan.changed_meetings(session, cursor, limit)
    result = Evaluated(meetings=max(len(ids), 1))
    if ids:
        changes = await _evaluate_project(
            session, cursor.project_id, ids, now, stand_down=stand_down, default_lead=default_lead
        )
        await changes.write(session, now)
        result.wake = changes.wake
    cursor.change_seq = last
    return result


async def evaluate_meetings(
    session: AsyncSession,
    project_id: int,
    meeting_ids: Sequence[str],
    now: datetime,
    *,
    stand_down: timedelta,
    default_lead: int,
) -> bool:
    """Evaluate these meetings now, in the caller's transaction (an override set through the API answers with
    its outcome); True when a worker has something new to do after the commit."""
    changes = await _evaluate_project(
        session, project_id, sorted(set(meeting_ids)), now, stand_down=stand_down, default_lead=default_lead
    )
    await changes.write(session, now)
    return changes.wake


def _chunks(values: Sequence[Any]) -> list[Sequence[Any]]:
    return [values[start : start + IN_CHUNK] for start in range(0, len(values), IN_CHUNK)]


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


async def _with_meetings_left(session: AsyncSession, project_id: int, ids: list[str]) -> list[str]:
    """`ids` and the meetings the events of their live rule bots have moved to (the organizer moved the meeting):
    evaluated together, the emptied meeting's bot goes with its event, the same bot. (A sync queues both meetings
    of an event that moves, so whichever is evaluated first brings the other.) Two lookups by indexed key, which
    no planner estimate can turn into a scan of the events."""
    found = set(ids)
    carried: dict[int, str] = {}
    for chunk in _chunks(ids):
        statement = select(Bot.event_id, Bot.meeting_object_id).where(
            _meeting_of_bot_in(session, chunk), Bot.state.in_(LIVE_STATES), Bot.event_id.is_not(None)
        )
        rows = (await session.execute(statement)).all()
        carried.update((event_id, meeting) for event_id, meeting in rows if event_id and meeting)
    for chunk in _chunks(sorted(carried)):
        statement = select(CalendarEvent.id, CalendarEvent.meeting_object_id).where(
            CalendarEvent.id.in_(chunk), CalendarEvent.project_id == project_id
        )
        for event_id, meeting in (await session.execute(statement)).all():
            if meeting and meeting != carried[event_id]:
                found.add(meeting)
    return sorted(found)


async def _lock_meetings(session: AsyncSession, project_id: int, ids: list[str], now: datetime) -> dict[str, Meeting]:
    """The batch's meeting rows, inserted where missing, then all locked in id order (one order for every
    evaluator: they never deadlock on meeting rows)."""
    existing: set[str] = set()
    for chunk in _chunks(ids):
        # By the unique object id alone, the project checked on the rows: a planner without statistics (a young
        # table) otherwise walks the project's whole index range and filters 500 ids out of it.
        present = select(Meeting.object_id, Meeting.project_id).where(Meeting.object_id.in_(chunk))
        existing.update(object_id for object_id, owner in (await session.execute(present)).all() if owner == project_id)
    missing = [object_id for object_id in ids if object_id not in existing]
    dialect = session.get_bind().dialect.name
    placeholder: dict[str, Any] = {"bot": False, "rule_id": None, "override": None, "reasons": []}
    for chunk in _chunks(missing):
        rows = [
            {
                "object_id": object_id,
                "project_id": project_id,
                "start_time": now,
                "end_time": now,
                "events": [],
                "decision": placeholder,
                "has_bot": False,
                "created_at": now,
                "updated_at": now,
            }
            for object_id in chunk
        ]
        insert = postgresql.insert(Meeting) if dialect == "postgresql" else sqlite.insert(Meeting)
        # A racing evaluator's insert of the same meeting wins; its row is locked below.
        await session.execute(insert.values(rows).on_conflict_do_nothing(index_elements=["object_id"]))
    found: dict[str, Meeting] = {}
    for chunk in _chunks(ids):
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


async def _members(session: AsyncSession, context: _Context, ids: list[str]) -> dict[str, list[decide.Member]]:
    members: dict[str, list[decide.Member]] = defaultdict(list)
    events: list[Any] = []
    for chunk in _chunks(ids):
        # Named columns, not ORM instances: no identity map, no `raw` (the bulk of a row) decoded.
        statement = select(*_EVENT_COLUMNS).where(
            CalendarEvent.project_id == context.project_id,
            CalendarEvent.meeting_object_id.in_(chunk),
            CalendarEvent.is_deleted.is_(False),
        )
        events.extend((await session.execute(statement)).all())
    calendar_ids = sorted({event.calendar_id for event in events})
    for chunk in _chunks(calendar_ids):
        found = await session.execute(select(Calendar).where(Calendar.id.in_(chunk)))
        context.calendars.update((calendar.id, calendar) for calendar in found.scalars())
    series = await _series_overrides(session, events)
    for event in sorted(events, key=lambda e: e.id):
        calendar = context.calendars.get(event.calendar_id)
        if calendar is None or calendar.deleted_at is not None or event.meeting_object_id is None:
            continue
        context.events[event.object_id] = event
        context.events_by_pk[event.id] = event
        members[event.meeting_object_id].append(
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
    return members


async def _series_overrides(session: AsyncSession, events: list[Any]) -> dict[tuple[int, str], str]:
    keys = {(event.calendar_id, event.recurring_event_id) for event in events if event.recurring_event_id}
    if not keys:
        return {}
    calendars = sorted({calendar_id for calendar_id, _ in keys})
    found: dict[tuple[int, str], str] = {}
    for chunk in _chunks(calendars):
        rows = await session.execute(select(SeriesOverride).where(SeriesOverride.calendar_id.in_(chunk)))
        for row in rows.scalars():
            if (row.calendar_id, row.recurring_event_id) in keys:
                found[(row.calendar_id, row.recurring_event_id)] = row.bot_override
    return found


async def _rule_bots(session: AsyncSession, ids: list[str]) -> list[Bot]:
    """The rule bots of the batch's meetings, every state (an ended one may come back), locked in ascending id
    order: first their ids (stable: only an evaluation holding the meeting's row changes which bots it has), then
    the rows by id. Every other bot lock (a sync page's bots, a calendar's, one bot's through the API) is taken in
    one ascending statement too, so two of them never wait for each other in a cycle, whatever the chunks."""
    found: set[int] = set()
    for chunk in _chunks(ids):
        found.update((await session.execute(select(Bot.id).where(_meeting_of_bot_in(session, chunk)))).scalars())
    bots: list[Bot] = []
    for chunk in _chunks(sorted(found)):
        statement = (
            select(Bot)
            .where(Bot.id.in_(chunk))
            .order_by(Bot.id)
            .with_for_update(of=Bot, key_share=True)
            .execution_options(populate_existing=True)
        )
        bots.extend((await session.execute(statement)).scalars())
    return bots


async def _manual_bots(session: AsyncSession, context: _Context) -> dict[str, Bot]:
    """The oldest live bot the application created (`POST /api/v1/bots` with `calendar_event_id`) on each meeting's
    member events. Read, not locked: the evaluation never changes them (creating or ending one queues its
    meeting, calsync.meetings.manual)."""
    found: dict[str, Bot] = {}
    for chunk in _chunks(sorted(context.events_by_pk)):
        statement = (
            select(Bot)
            .where(Bot.event_id.in_(chunk), Bot.meeting_object_id.is_(None), Bot.state.in_(LIVE_STATES))
            .order_by(Bot.id)
        )
        for bot in (await session.execute(statement)).scalars():
            event = context.events_by_pk.get(bot.event_id or 0)
            if event is not None and event.meeting_object_id:
                found.setdefault(event.meeting_object_id, bot)
    return found


def _rule_spec(rule: BotRule) -> decide.Rule:
    return decide.Rule(
        id=rule.object_id,
        priority=rule.priority,
        calendar_ids=frozenset(rule.calendar_ids) if rule.calendar_ids is not None else None,
        calendar_metadata=rule.calendar_metadata,
        event_selection=rule.event_selection,
        participants_gte=rule.participants_gte,
        participants_lte=rule.participants_lte,
        response=rule.response,
        exclude_all_day=rule.exclude_all_day,
        title_include=tuple(rule.title_include or ()),
        title_exclude=tuple(rule.title_exclude or ()),
    )


async def _evaluate_project(
    session: AsyncSession, project_id: int, ids: list[str], now: datetime, *, stand_down: timedelta, default_lead: int
) -> BotChanges:
    project = await session.get(Project, project_id)
    changes = BotChanges(project_id)
    if project is None:
        return changes  # (deleted meanwhile: its queue rows went with it)
    with session.no_autoflush:
        # Reads never need this evaluation's own writes flushed first: one flush at the commit.
        await _evaluate_rows(session, project, ids, now, changes, stand_down=stand_down, default_lead=default_lead)
    return changes


async def _evaluate_rows(
    session: AsyncSession,
    project: Project,
    ids: list[str],
    now: datetime,
    changes: BotChanges,
    *,
    stand_down: timedelta,
    default_lead: int,
) -> None:
    project_id = project.id
    found = await session.execute(select(BotRule).where(BotRule.project_id == project_id, BotRule.is_active.is_(True)))
    active = {rule.object_id: rule for rule in found.scalars()}
    context = _Context(
        session=session,
        project_id=project_id,
        now=now,
        stand_down=stand_down,
        default_lead=default_lead,
        rules=active,
        internal_domains=frozenset(str(d).lower() for d in project.internal_domains or ()),
        changes=changes,
    )
    ids = await _with_meetings_left(session, project_id, ids)
    meetings = await _lock_meetings(session, project_id, ids, now)
    members = await _members(session, context, ids)
    bots = await _rule_bots(session, ids)
    manual = await _manual_bots(session, context)
    specs = [_rule_spec(rule) for rule in active.values()]
    decisions = {
        object_id: decide.decide(
            members.get(object_id, []),
            specs,
            meeting_override=meeting.bot_override,
            internal_domains=context.internal_domains,
        )
        for object_id, meeting in meetings.items()
    }
    own = _own_bots(bots)
    by_id = context.events_by_pk
    emptied = {object_id for object_id in meetings if not members.get(object_id)}
    # A live bot whose event moved into another meeting of this batch while its own meeting was emptied goes with
    # its event (the organizer moved the meeting: the same bot, not a new one).
    adoptable: dict[str, Bot] = {}
    for candidate in bots:
        event = by_id.get(candidate.event_id) if candidate.event_id is not None else None
        if (
            event is not None
            and candidate.state in LIVE_STATES
            and candidate.meeting_object_id in emptied
            and own.get(candidate.meeting_object_id or "") is candidate
            and event.meeting_object_id in decisions
            and event.meeting_object_id not in own
            and decisions[event.meeting_object_id or ""].bot
        ):
            adoptable.setdefault(event.meeting_object_id or "", candidate)
    adopted = {bot.id for bot in adoptable.values()}
    for object_id in sorted(meetings):
        bot: Bot | None = own.get(object_id)
        if bot is not None and bot.id in adopted:
            bot = None  # it went with its event to the meeting that adopts it
        if object_id in adoptable:
            bot = adoptable[object_id]
            bot.meeting_object_id = object_id
        served = _serve(
            context, meetings[object_id], members.get(object_id, []), decisions[object_id], bot, manual.get(object_id)
        )
        await _write_meeting(
            session, meetings[object_id], members.get(object_id, []), decisions[object_id], served, now
        )


def _own_bots(bots: list[Bot]) -> dict[str, Bot]:
    """Each meeting's bot: its live one, else its latest (which may come back, or stays ended if it was cancelled
    by request: the application's choice, which a rule does not undo)."""
    own: dict[str, Bot] = {}
    for bot in bots:  # (in id order: a later bot replaces an earlier ended one)
        if bot.meeting_object_id is None:
            continue
        current = own.get(bot.meeting_object_id)
        if current is None or current.state not in LIVE_STATES:
            own[bot.meeting_object_id] = bot
    return own


def _revivable(bot: Bot) -> bool:
    code = (bot.state_reason or {}).get("code")
    return code in MEETING_CAUSED_ENDS or code in bot_rules.EVENT_CAUSED_ENDS


def _serve(
    context: _Context,
    meeting: Meeting,
    members: list[decide.Member],
    decision: decide.Decision,
    bot: Bot | None,
    manual: Bot | None = None,
) -> Bot | None:
    """Make the meeting's rule bot follow the decision; returns the live bot serving the meeting, if any (`manual`:
    a live bot the application created on one of its events)."""
    now = context.now
    ended = bool(members) and max(member.end_time for member in members) <= now
    if ended or (not members and meeting.end_time <= now and meeting.events):
        # A meeting that is over keeps whatever it had: its bot did its job (or missed it); nothing to change.
        return bot if bot is not None and bot.state in LIVE_STATES else manual
    if manual is not None:
        # One bot per meeting: the application's own bot serves it, and the rules stand aside (their bot comes back,
        # the same one, if the application's ends and the meeting is still selected).
        if bot is not None and bot.state in LIVE_STATES:
            context.changes.apply(bot, _end(bot, MANUAL_BOT), now)
        return manual
    if not decision.bot:
        if bot is not None and bot.state in LIVE_STATES:
            reason = OVERRIDE_NEVER if decision.override == decide.NEVER else NO_EVENTS if not members else NOT_SELECTED
            context.changes.apply(bot, _end(bot, reason), now)
        return None
    rule = context.rules.get(decision.rule_id) if decision.rule_id else None
    current_event = context.events_by_pk.get(bot.event_id) if bot is not None and bot.event_id is not None else None
    target_id = decision.eligible[0]  # (connected calendars first)
    # The bot stays on its event while it matches, unless its calendar is disconnected and a connected one's copy
    # matches too: a paused bot would miss a meeting another calendar can still serve.
    if (
        current_event is not None
        and current_event.object_id in decision.eligible
        and (_connected(context, current_event) or not _connected(context, context.events[target_id]))
    ):
        target_id = current_event.object_id
    event = context.events[target_id]
    calendar = context.calendars[event.calendar_id]
    if bot is not None and bot.state in bot_rules.ENDED and not _revivable(bot):
        # An end that does not come back. One the application asked for (DELETE) stands, unless an `always`
        # override asks again; any other (its calendar deleted, a missed dispatch) leaves room for a new bot.
        asked = (bot.state_reason or {}).get("code") == bot_rules.CANCELLED_BY_REQUEST.code
        if asked and decision.override != decide.ALWAYS:
            return None
        bot = None
    if bot is None:
        return _create(context, meeting, event, calendar, rule)
    renamed = False
    if rule is not None:
        # The bot takes the selecting rule's settings (its timing follows below, as an event move would).
        lead = rule.dispatch_lead_seconds if rule.dispatch_lead_seconds is not None else context.default_lead
        renamed = (bot.rule_object_id, bot.bot_name, bot.metadata_) != (rule.object_id, rule.bot_name, rule.metadata_)
        bot.rule_object_id, bot.bot_name, bot.metadata_ = rule.object_id, rule.bot_name, rule.metadata_
        if bot.state != bot_rules.DISPATCHED:
            bot.join_offset_seconds, bot.dispatch_lead_seconds = rule.join_offset_seconds, lead
    moved_calendar = bot.calendar_id != calendar.id
    if bot.event_id != event.id:
        bot.event_id, bot.event_object_id = event.id, event.object_id
        bot.calendar_id, bot.calendar_object_id = calendar.id, calendar.object_id
    current = facts(bot)
    meeting_caused = (bot.state_reason or {}).get("code") in MEETING_CAUSED_ENDS
    if bot.state in bot_rules.ENDED and meeting_caused:
        current = replace(current, reason_code=bot_rules.EVENT_CANCELLED.code)  # an end that may be undone
    outcome = bot_rules.follow(
        current,
        event_meeting(event),
        previous_end=None,
        connected=calendar.state == CalendarState.CONNECTED.value,
        now=now,
        stand_down=context.stand_down,
    )
    if outcome.reason == bot_rules.EVENT_RESTORED and meeting_caused:
        outcome = replace(outcome, reason=SELECTED)
    if outcome.reason == bot_rules.CALENDAR_RECONNECTED and moved_calendar:
        outcome = replace(outcome, reason=MOVED_TO_CONNECTED)  # (its own calendar is still disconnected)
    if not context.changes.apply(bot, outcome, now) and renamed:
        bot.updated_at = max(now, bot.updated_at + timedelta(microseconds=1))
    return bot if bot.state in LIVE_STATES else None


def _connected(context: _Context, event: Any) -> bool:
    return bool(context.calendars[event.calendar_id].state == CalendarState.CONNECTED.value)


def _end(bot: Bot, reason: bot_rules.Reason) -> bot_rules.Outcome:
    return replace(bot_rules.unchanged(facts(bot)), state=bot_rules.CANCELLED, reason=reason)


def _create(context: _Context, meeting: Meeting, event: Any, calendar: Calendar, rule: BotRule | None) -> Bot | None:
    """A new rule bot on `event`, unless it would already be too late (a meeting that has started gets none)."""
    now = context.now
    offset = rule.join_offset_seconds if rule is not None else 0
    lead = rule.dispatch_lead_seconds if rule is not None and rule.dispatch_lead_seconds is not None else None
    lead = context.default_lead if lead is None else lead
    join_at, dispatch_at = bot_rules.times(event.start_time, timedelta(seconds=offset), timedelta(seconds=lead))
    if bot_rules.too_late(join_at, event.start_time, now) or event.meeting_url is None:
        return None
    connected = calendar.state == CalendarState.CONNECTED.value
    bot = Bot(
        object_id=new_id(BOT_ID_PREFIX),
        project_id=context.project_id,
        calendar_id=calendar.id,
        calendar_object_id=calendar.object_id,
        event_id=event.id,
        event_object_id=event.object_id,
        rule_object_id=rule.object_id if rule is not None else None,
        meeting_object_id=meeting.object_id,
        state=bot_rules.SCHEDULED if connected else bot_rules.PAUSED,
        state_reason=None,
        bot_name=rule.bot_name if rule is not None else None,
        metadata_=rule.metadata_ if rule is not None else None,
        deduplication_key=None,
        meeting_url=event.meeting_url,
        join_at=join_at,
        dispatch_at=dispatch_at,
        join_offset_seconds=offset,
        dispatch_lead_seconds=lead,
        dispatch_due_at=dispatch_at if connected else None,
        created_at=now,
        updated_at=now,
    )
    context.changes.touched = True
    context.changes.due = context.changes.due or connected
    context.session.add(bot)
    return bot


async def _write_meeting(
    session: AsyncSession,
    meeting: Meeting,
    members: list[decide.Member],
    decision: decide.Decision,
    bot: Bot | None,
    now: datetime,
) -> None:
    if not members and bot is None:
        # Nothing left to show: the row goes (it comes back, with a new evaluation, if an event returns).
        await session.delete(meeting)
        return
    before = _shown(meeting)
    if members:
        first = _representative(members)
        meeting.name, meeting.start_time, meeting.end_time = first.name, first.start_time, first.end_time
        meeting.meeting_url = first.meeting_url
        meeting.meeting_platform = _platform_of(members)
        meeting.ical_uid = _ical_uid_of(members)
    meeting.events = [
        {"event_id": m.event_id, "calendar_id": m.calendar_id, "response_status": decide.response_status(m)}
        for m in members
    ]
    meeting.decision = decision.json()
    meeting.bot_object_id = bot.object_id if bot is not None else None
    meeting.has_bot = bot is not None
    if _shown(meeting) != before:
        meeting.updated_at = now  # (an evaluation that changes nothing writes nothing: no UPDATE at all)


def _shown(meeting: Meeting) -> tuple[Any, ...]:
    return (
        meeting.name,
        meeting.start_time,
        meeting.end_time,
        meeting.meeting_url,
        meeting.meeting_platform,
        meeting.ical_uid,
        meeting.events,
        meeting.decision,
        meeting.bot_object_id,
    )


def _representative(members: list[decide.Member]) -> decide.Member:
    """The organizer's copy when one of the calendars is the organizer's, else the oldest member."""
    for member in members:
        if member.owner_email and (member.organizer_email or "").lower() == member.owner_email.lower():
            return member
    return members[0]


def _platform_of(members: list[decide.Member]) -> str | None:
    return next((m.meeting_platform for m in members if m.meeting_platform), None)


def _ical_uid_of(members: list[decide.Member]) -> str | None:
    return next((m.ical_uid for m in members if m.ical_uid), None)
