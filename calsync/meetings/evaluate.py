"""Evaluating queued meetings: membership, decision, and the one bot each meeting gets — a batch per transaction.

One transaction takes a batch of queued rows (SKIP LOCKED), or the meetings of one project's next event changes
(calsync.meetings.scan, the project's cursor locked), and for each project in it:

1. inserts the rows of meetings not stored yet (ON CONFLICT DO NOTHING: a racing evaluator's insert wins) and locks
   the batch's meeting rows in id order (`FOR NO KEY UPDATE`): evaluations of one meeting are serialized, and every
   read below sees what the previous one committed;
2. reads the members (live events with the meeting's id, one indexed query for the batch), the active rules, the
   series overrides, and locks the rule bots of the batch's meetings in ascending id order;
3. decides (calsync.meetings.decide, pure), plans what happens to each meeting's bot (calsync.meetings.bot_policy,
   pure) and carries that out: keep the meeting's bot (moved
   onto a member that matches when its own event no longer does), revive it, adopt the bot of an emptied meeting
   whose event moved here, create one, or cancel it with a reason;
4. writes the meeting rows (or deletes the rows of meetings left without events), the bots' webhooks, and deletes
   the queue rows it took.

A project without an active rule first takes the fast way for the meetings that have no row yet: where no override
and no bot (rule's or hand-made) concerns them, the rules cannot give them a bot, so their rows are inserted whole
(the decision every meeting shows when no rule exists) without locking or reading any bot; the others, and those a
racing evaluator inserted first, go the way above.

The steps live in their own modules: calsync.meetings.load (reads and locks), calsync.meetings.bot_policy (what
happens to each meeting's bot, pure), calsync.meetings.apply_plan (carrying that out on the stored bots) and
calsync.meetings.meeting_rows (the meeting rows).

Lock order (docs/architecture.md): a scan cursor, meeting rows, then bot rows, then outbox rows. No calendar row and no change
clock are taken: a sync page never waits for an evaluation, and an evaluation never waits for a sync page's clock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from calsync.bots.lifecycle import BotChanges, facts
from calsync.meetings import bot_policy, decide, load, meeting_rows, queue, scan
from calsync.meetings.apply_plan import Executor
from calsync.meetings.rows import EventRow
from calsync.store.models import Bot, BotRule, CalendarState, Project

# Meetings per transaction: a few hundred keep each transaction to milliseconds of locks and a handful of queries.
BATCH_SIZE = 500


@dataclass
class Evaluated:
    meetings: int = 0
    wake: bool = False
    last_id: int = 0  # the highest queue row id taken


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
    below = await scan.horizon(session)
    cursor = await scan.claim(session, below)
    if cursor is None:
        return Evaluated()
    ids, last = await scan.changed_meetings(session, cursor, limit, below)
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
    active = await load.active_rules(session, project_id)
    if not active:
        ids = await _new_without_bots(session, project_id, ids, now)
        if not ids:
            return
    ids = await load.with_meetings_left(session, project_id, ids)
    meetings = await load.lock_meetings(session, project_id, ids, now)
    loaded = await load.members(session, project_id, ids)
    bots = await load.rule_bots(session, ids)
    manual = await load.manual_bots(session, loaded.events)
    internal_domains = frozenset(str(d).lower() for d in project.internal_domains or ())
    specs = [_rule_spec(rule) for rule in active.values()]
    decisions = {
        object_id: decide.decide(
            loaded.of(object_id), specs, meeting_override=meeting.bot_override, internal_domains=internal_domains
        )
        for object_id, meeting in meetings.items()
    }
    copies = _copies(loaded)
    meeting_facts = [
        bot_policy.MeetingFacts(
            object_id=object_id,
            decision=decisions[object_id],
            copies=copies.get(object_id, {}),
            stored_end=meeting.end_time,
            stored_events=bool(meeting.events),
            manual=object_id in manual,
            rule=_settings(active[rule_id], default_lead) if (rule_id := decisions[object_id].rule_id) else None,
        )
        for object_id, meeting in meetings.items()
    ]
    plans = bot_policy.plan_batch(
        meeting_facts, [_rule_bot(bot) for bot in bots], now=now, stand_down=stand_down, default_lead=default_lead
    )
    executor = Executor(session, project_id, now, changes, {bot.id: bot for bot in bots}, loaded.calendars)
    for object_id in sorted(meetings):
        served = executor.carry_out(plans[object_id], object_id, manual.get(object_id))
        await meeting_rows.write_meeting(
            session, meetings[object_id], loaded.of(object_id), decisions[object_id], served, now
        )


async def _new_without_bots(session: AsyncSession, project_id: int, ids: list[str], now: datetime) -> list[str]:
    """A project without an active rule: the meetings of `ids` that have no row yet, and that no override and no bot
    concerns, get their rows whole (no rule can give them a bot: their decision is the one every meeting shows
    without rules); those left without events get none. Returns the meetings still to evaluate the full way."""
    existing = await load.stored_meetings(session, project_id, ids)
    new = [object_id for object_id in ids if object_id not in existing]
    if not new:
        return ids
    loaded = await load.members(session, project_id, new)
    concerned: set[str] = set()
    if await load.project_has_bots(session, project_id):
        concerned = await load.meetings_with_bots(session, new, loaded.events)
    rows: dict[str, dict[str, object]] = {}
    full: list[str] = []
    for object_id in new:
        members = loaded.of(object_id)
        if object_id in concerned or any(member.series_override for member in members):
            rows[object_id] = meeting_rows.placeholder()  # (inserted with the others: one order of inserts)
            full.append(object_id)
        elif members:
            rows[object_id] = meeting_rows.shown(members, decide.decide(members, ()), None)
    inserted = await meeting_rows.insert_meetings(session, project_id, rows, now)
    # Rows a racing evaluator inserted first are evaluated under their lock, from what is committed by then.
    lost = [object_id for object_id in rows if object_id not in inserted]
    return sorted({*existing, *full, *lost})


def _copies(loaded: load.Members) -> dict[str, dict[str, bot_policy.Copy]]:
    copies: dict[str, dict[str, bot_policy.Copy]] = defaultdict(dict)
    for event in loaded.events.values():
        if event.meeting_object_id is not None:
            copies[event.meeting_object_id][event.object_id] = _copy(event, loaded)
    return copies


def _copy(event: EventRow, loaded: load.Members) -> bot_policy.Copy:
    connected = loaded.calendars[event.calendar_id].state == CalendarState.CONNECTED.value
    return bot_policy.Copy(event.id, event.object_id, event.calendar_id, connected, event.followed())


def _rule_bot(bot: Bot) -> bot_policy.RuleBot:
    return bot_policy.RuleBot(
        id=bot.id,
        meeting_id=bot.meeting_object_id,
        event_id=bot.event_id,
        calendar_id=bot.calendar_id,
        facts=facts(bot),
        rule_id=bot.rule_object_id,
        bot_name=bot.bot_name,
        metadata=bot.metadata_,
    )


def _settings(rule: BotRule, default_lead: int) -> bot_policy.Settings:
    lead = rule.dispatch_lead_seconds if rule.dispatch_lead_seconds is not None else default_lead
    return bot_policy.Settings(rule.object_id, rule.bot_name, rule.metadata_, rule.join_offset_seconds, lead)


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
