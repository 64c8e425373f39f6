"""The bot policy of a meeting evaluation, pure: given each meeting's decision (calsync.meetings.decide), its copies,
its rule bots and whether a bot made by hand serves it, what happens to its one rule bot — create one, let it follow
(stay, move onto another copy, come back, take another rule's settings), cancel it, or nothing — and why.

No database and no clock: calsync.meetings.apply_plan carries a plan out on the stored bots. The rules are those of
docs/bots.md, "One bot per meeting":

- a meeting that is over keeps whatever it had;
- a live bot made by hand serves the meeting: the rule bot stands aside (`meeting_has_manual_bot`);
- not selected: the live rule bot is cancelled with a reason that is undone when the meeting is selected again;
- selected: the meeting keeps its bot (the same id), on its event while that copy matches, unless its calendar is
  disconnected and a connected copy matches too; an ended bot comes back when a meeting or its event ended it; one
  the application cancelled stays cancelled unless an `always` override asks again; otherwise a new bot is created,
  unless the meeting has already started;
- a live bot whose event moved into another meeting of the batch while its own meeting was emptied goes with its
  event (the organizer moved the meeting: the same bot, not a new one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from calsync.bots import rules as bot_rules
from calsync.meetings import decide
from calsync.store.models.bot import LIVE_STATES

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

# What a plan does to the meeting's rule bot.
NOTHING, CREATE, FOLLOW, CANCEL = "nothing", "create", "follow", "cancel"
# Which bot serves the meeting once the plan is carried out.
RULE_BOT, MANUAL = "rule_bot", "manual"
# Why a plan does nothing (besides a reason code of the bots' own).
MEETING_OVER = "meeting_over"
TOO_LATE = "too_late"
NO_MEETING_URL = "no_meeting_url"


@dataclass(frozen=True)
class Settings:
    """What a rule's bot takes from the rule that selects its meeting (the lead resolved with the default)."""

    rule_id: str | None
    bot_name: str | None
    metadata: dict[str, Any] | None
    join_offset_seconds: int
    dispatch_lead_seconds: int


@dataclass(frozen=True)
class Copy:
    """A live member event of the meeting, as a bot may serve the meeting from it."""

    event_id: int
    object_id: str
    calendar_id: int
    connected: bool
    followed: bot_rules.Meeting  # its start, end, link and whether it is deleted


@dataclass(frozen=True)
class RuleBot:
    """A stored rule bot, as far as the policy cares."""

    id: int
    meeting_id: str | None
    event_id: int | None
    calendar_id: int | None
    facts: bot_rules.BotFacts
    rule_id: str | None = None
    bot_name: str | None = None
    metadata: dict[str, Any] | None = None

    @property
    def live(self) -> bool:
        return self.facts.state in LIVE_STATES


@dataclass(frozen=True)
class MeetingFacts:
    """One meeting of the batch: its decision, its copies and what its stored row shows."""

    object_id: str
    decision: decide.Decision
    copies: Mapping[str, Copy]  # its live member events by object id
    stored_end: datetime  # the stored row's end (the last the meeting had)
    stored_events: bool  # the stored row lists events
    manual: bool = False  # a live bot the application created on one of its events
    rule: Settings | None = None  # the selecting rule's settings, when a rule selects it

    @property
    def end(self) -> datetime | None:
        return max((copy.followed.end_time or copy.followed.start_time for copy in self.copies.values()), default=None)


@dataclass(frozen=True)
class Plan:
    """What happens to the meeting's rule bot, and why (`why`: a reason code)."""

    action: str  # NOTHING, CREATE, FOLLOW or CANCEL
    why: str
    serves: str | None  # RULE_BOT, MANUAL or None: the live bot serving the meeting afterwards
    bot_id: int | None = None  # the rule bot considered (FOLLOW and CANCEL act on it)
    adopted: bool = False  # that bot comes from the emptied meeting its event left
    target: Copy | None = None  # CREATE, FOLLOW: the copy it serves from
    settings: Settings | None = None  # CREATE: the new bot's; FOLLOW: the selecting rule's, written onto it
    outcome: bot_rules.Outcome | None = None  # what the bot becomes (CREATE: its first state and times)
    renamed: bool = False  # FOLLOW: it takes another rule's id, name or metadata
    changes: bool = field(default=False)  # anything of a stored bot changes (an evaluation may write nothing)


def own_bots(bots: Iterable[RuleBot]) -> dict[str, RuleBot]:
    """Each meeting's bot: its live one, else its latest (which may come back, or stays ended if it was cancelled
    by request: the application's choice, which a rule does not undo). `bots` in id order."""
    own: dict[str, RuleBot] = {}
    for bot in bots:
        if bot.meeting_id is None:
            continue
        current = own.get(bot.meeting_id)
        if current is None or not current.live:
            own[bot.meeting_id] = bot
    return own


def adoptions(meetings: Sequence[MeetingFacts], bots: Sequence[RuleBot]) -> dict[str, RuleBot]:
    """The live bots that go with their event to another meeting of the batch: their own meeting was emptied, and
    the meeting their event is in now gets a bot and has none of its own. By the adopting meeting's id."""
    own = own_bots(bots)
    decisions = {meeting.object_id: meeting.decision for meeting in meetings}
    emptied = {meeting.object_id for meeting in meetings if not meeting.copies}
    meeting_of = {copy.event_id: meeting.object_id for meeting in meetings for copy in meeting.copies.values()}
    adoptable: dict[str, RuleBot] = {}
    for candidate in bots:
        destination = meeting_of.get(candidate.event_id) if candidate.event_id is not None else None
        if (
            destination is not None
            and candidate.live
            and candidate.meeting_id in emptied
            and own.get(candidate.meeting_id or "") is candidate
            and destination not in own
            and decisions[destination].bot
        ):
            adoptable.setdefault(destination, candidate)
    return adoptable


def plan_batch(
    meetings: Sequence[MeetingFacts],
    bots: Sequence[RuleBot],
    *,
    now: datetime,
    stand_down: timedelta,
    default_lead: int,
) -> dict[str, Plan]:
    """Every meeting's plan (`bots`: the rule bots of the batch's meetings, every state, in id order)."""
    own = own_bots(bots)
    adoptable = adoptions(meetings, bots)
    adopted = {bot.id for bot in adoptable.values()}
    plans: dict[str, Plan] = {}
    for meeting in sorted(meetings, key=lambda m: m.object_id):
        bot = own.get(meeting.object_id)
        if bot is not None and bot.id in adopted:
            bot = None  # it went with its event to the meeting that adopts it
        candidate = adoptable.get(meeting.object_id)
        if candidate is not None:
            bot = replace(candidate, meeting_id=meeting.object_id)
        plan = plan_meeting(meeting, bot, now=now, stand_down=stand_down, default_lead=default_lead)
        plans[meeting.object_id] = replace(plan, adopted=True, changes=True) if candidate is not None else plan
    return plans


def revivable(bot: RuleBot) -> bool:
    code = bot.facts.reason_code
    return code in MEETING_CAUSED_ENDS or code in bot_rules.EVENT_CAUSED_ENDS


def plan_meeting(
    meeting: MeetingFacts, bot: RuleBot | None, *, now: datetime, stand_down: timedelta, default_lead: int
) -> Plan:
    """What happens to the meeting's rule bot `bot` (its live one, else its latest; None: it has none)."""
    bot_id = bot.id if bot is not None else None
    live = bot is not None and bot.live
    end = meeting.end
    if (end is not None and end <= now) or (end is None and meeting.stored_end <= now and meeting.stored_events):
        # A meeting that is over keeps whatever it had: its bot did its job (or missed it); nothing to change.
        serves = RULE_BOT if live else MANUAL if meeting.manual else None
        return Plan(NOTHING, MEETING_OVER, serves, bot_id)
    if meeting.manual:
        # One bot per meeting: the application's own bot serves it, and the rules stand aside (their bot comes back,
        # the same one, if the application's ends and the meeting is still selected).
        if bot is not None and live:
            return _cancel(bot, MANUAL_BOT, serves=MANUAL)
        return Plan(NOTHING, MANUAL_BOT.code, MANUAL, bot_id)
    decision = meeting.decision
    if not decision.bot:
        reason = (
            OVERRIDE_NEVER if decision.override == decide.NEVER else NO_EVENTS if not meeting.copies else NOT_SELECTED
        )
        if bot is not None and live:
            return _cancel(bot, reason, serves=None)
        return Plan(NOTHING, reason.code, None, bot_id)
    target = meeting.copies[decision.eligible[0]]  # (connected calendars first)
    current = _copy_of(meeting, bot.event_id) if bot is not None else None
    # The bot stays on its event while it matches, unless its calendar is disconnected and a connected one's copy
    # matches too: a paused bot would miss a meeting another calendar can still serve.
    if current is not None and current.object_id in decision.eligible and (current.connected or not target.connected):
        target = current
    if bot is not None and bot.facts.state in bot_rules.ENDED and not revivable(bot):
        # An end that does not come back. One the application asked for (DELETE) stands, unless an `always`
        # override asks again; any other (its calendar deleted, a missed dispatch) leaves room for a new bot.
        if bot.facts.reason_code == bot_rules.CANCELLED_BY_REQUEST.code and decision.override != decide.ALWAYS:
            return Plan(NOTHING, bot_rules.CANCELLED_BY_REQUEST.code, None, bot_id)
        return _create(meeting, target, bot_id, now=now, default_lead=default_lead)
    if bot is None:
        return _create(meeting, target, None, now=now, default_lead=default_lead)
    return _follow(meeting, bot, target, now=now, stand_down=stand_down)


def _copy_of(meeting: MeetingFacts, event_id: int | None) -> Copy | None:
    return next((copy for copy in meeting.copies.values() if copy.event_id == event_id), None)


def _cancel(bot: RuleBot, reason: bot_rules.Reason, *, serves: str | None) -> Plan:
    outcome = replace(bot_rules.unchanged(bot.facts), state=bot_rules.CANCELLED, reason=reason)
    return Plan(CANCEL, reason.code, serves, bot.id, outcome=outcome, changes=True)


def _create(meeting: MeetingFacts, target: Copy, bot_id: int | None, *, now: datetime, default_lead: int) -> Plan:
    """A new rule bot on `target`, unless it would already be too late (a meeting that has started gets none)."""
    rule = meeting.rule
    settings = rule if rule is not None else Settings(None, None, None, 0, default_lead)
    event = target.followed
    join_at, dispatch_at = bot_rules.times(
        event.start_time,
        timedelta(seconds=settings.join_offset_seconds),
        timedelta(seconds=settings.dispatch_lead_seconds),
    )
    if bot_rules.too_late(join_at, event.start_time, now):
        return Plan(NOTHING, TOO_LATE, None, bot_id)
    if event.meeting_url is None:
        return Plan(NOTHING, NO_MEETING_URL, None, bot_id)
    state = bot_rules.SCHEDULED if target.connected else bot_rules.PAUSED
    outcome = bot_rules.Outcome(state, None, join_at, dispatch_at, event.meeting_url)
    return Plan(
        CREATE, SELECTED.code, RULE_BOT, bot_id, target=target, settings=settings, outcome=outcome, changes=True
    )


def _follow(meeting: MeetingFacts, bot: RuleBot, target: Copy, *, now: datetime, stand_down: timedelta) -> Plan:
    """The meeting keeps `bot` (revived if a meeting or its event ended it): it takes the selecting rule's settings,
    moves onto `target` if it is on another copy, and follows that event as an event move would."""
    rule = meeting.rule
    facts = bot.facts
    renamed = False
    if rule is not None:
        renamed = (bot.rule_id, bot.bot_name, bot.metadata) != (rule.rule_id, rule.bot_name, rule.metadata)
        if facts.state != bot_rules.DISPATCHED:
            facts = replace(
                facts,
                join_offset=timedelta(seconds=rule.join_offset_seconds),
                dispatch_lead=timedelta(seconds=rule.dispatch_lead_seconds),
            )
    retimed = (facts.join_offset, facts.dispatch_lead) != (bot.facts.join_offset, bot.facts.dispatch_lead)
    moved_calendar = bot.calendar_id != target.calendar_id
    meeting_caused = bot.facts.reason_code in MEETING_CAUSED_ENDS
    current = facts
    if facts.state in bot_rules.ENDED and meeting_caused:
        current = replace(facts, reason_code=bot_rules.EVENT_CANCELLED.code)  # an end that may be undone
    outcome = bot_rules.follow(
        current, target.followed, previous_end=None, connected=target.connected, now=now, stand_down=stand_down
    )
    if outcome.reason == bot_rules.EVENT_RESTORED and meeting_caused:
        outcome = replace(outcome, reason=SELECTED)
    if outcome.reason == bot_rules.CALENDAR_RECONNECTED and moved_calendar:
        outcome = replace(outcome, reason=MOVED_TO_CONNECTED)  # (its own calendar is still disconnected)
    serves = RULE_BOT if outcome.state in LIVE_STATES else None
    changed = outcome != bot_rules.unchanged(bot.facts) or renamed or retimed or bot.event_id != target.event_id
    why = outcome.reason.code if outcome.reason is not None else "kept"
    return Plan(
        FOLLOW,
        why,
        serves,
        bot.id,
        target=target,
        settings=rule,
        outcome=outcome,
        renamed=renamed,
        changes=changed,
    )
