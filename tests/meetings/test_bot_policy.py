"""The bot policy of a meeting evaluation as pure functions (no database): examples of each rule of docs/bots.md
"One bot per meeting", and properties over random batches of meetings, copies, rules, overrides and stored bots:
never two live rule bots for one meeting, an override always wins, and planning again after carrying a plan out
changes nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from calsync.bots import rules as bot_rules
from calsync.meetings import bot_policy, decide
from calsync.meetings.bot_policy import CANCEL, CREATE, FOLLOW, NOTHING, Copy, MeetingFacts, Plan, RuleBot, Settings

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
STAND_DOWN = timedelta(seconds=300)
LEAD = 120
URL = "https://meet.google.com/abc-defg-hij"
RULE = Settings("rul_a", "Notes", {"source": "rules"}, -60, 120)


def copy(event_id: int, *, start: datetime = NOW + timedelta(hours=2), connected: bool = True, **kw: Any) -> Copy:
    followed = bot_rules.Meeting(start, start + timedelta(minutes=30), kw.get("url", URL), False)
    return Copy(event_id, f"evt_{event_id}", kw.get("calendar_id", event_id), connected, followed)


def meeting(*copies: Copy, bot: bool = True, override: str | None = None, **kw: Any) -> MeetingFacts:
    eligible = tuple(c.object_id for c in sorted(copies, key=lambda c: (not c.connected, c.object_id)))
    decision = decide.Decision(bot, "rul_a" if bot and override is None else None, override, (), eligible)
    return MeetingFacts(
        object_id=kw.get("object_id", "mtg_a"),
        decision=decision,
        copies={c.object_id: c for c in copies},
        stored_end=kw.get("stored_end", NOW + timedelta(hours=3)),
        stored_events=kw.get("stored_events", bool(copies)),
        manual=kw.get("manual", False),
        rule=RULE if bot and override is None else None,
    )


def bot_on(c: Copy, *, state: str = bot_rules.SCHEDULED, reason: str | None = None, **kw: Any) -> RuleBot:
    join_at, dispatch_at = bot_rules.times(c.followed.start_time, timedelta(seconds=-60), timedelta(seconds=120))
    url = c.followed.meeting_url or URL
    facts = bot_rules.BotFacts(state, reason, join_at, dispatch_at, url, timedelta(seconds=-60), timedelta(seconds=120))
    bot_id, meeting_id = kw.get("id", 1), kw.get("meeting_id", "mtg_a")
    return RuleBot(bot_id, meeting_id, c.event_id, c.calendar_id, facts, RULE.rule_id, RULE.bot_name, RULE.metadata)


def planned(m: MeetingFacts, bot: RuleBot | None) -> Plan:
    return bot_policy.plan_meeting(m, bot, now=NOW, stand_down=STAND_DOWN, default_lead=LEAD)


def test_a_selected_meeting_gets_a_bot_on_its_best_copy() -> None:
    plan = planned(meeting(copy(2, connected=False), copy(3)), None)
    assert (plan.action, plan.serves) == (CREATE, bot_policy.RULE_BOT)
    assert plan.target is not None and plan.target.event_id == 3  # connected calendars first
    assert plan.outcome is not None and plan.outcome.state == bot_rules.SCHEDULED
    assert plan.outcome.join_at == NOW + timedelta(hours=2, seconds=-60)


def test_a_meeting_that_has_started_gets_none() -> None:
    plan = planned(meeting(copy(1, start=NOW - timedelta(minutes=5))), None)
    assert (plan.action, plan.why, plan.serves) == (NOTHING, bot_policy.TOO_LATE, None)


def test_the_bot_stays_on_its_copy_and_moves_when_it_no_longer_matches() -> None:
    a, b = copy(1), copy(2)
    kept = planned(meeting(a, b), bot_on(b))
    assert kept.action == FOLLOW and kept.target == b and not kept.changes
    moved = planned(meeting(a), replace(bot_on(b), event_id=2))
    assert moved.action == FOLLOW and moved.target == a and moved.changes


def test_a_paused_bot_moves_to_a_connected_copy() -> None:
    away, home = copy(1, connected=False), copy(2)
    plan = planned(meeting(away, home), bot_on(away, state=bot_rules.PAUSED, reason="calendar_disconnected"))
    assert plan.target == home
    assert plan.outcome is not None and plan.outcome.reason == bot_policy.MOVED_TO_CONNECTED


def test_no_longer_selected_cancels_with_a_reason_the_meeting_undoes() -> None:
    c = copy(1)
    plan = planned(meeting(c, bot=False), bot_on(c))
    assert (plan.action, plan.why) == (CANCEL, bot_policy.NOT_SELECTED.code)
    assert planned(meeting(c, bot=False, override="never"), bot_on(c)).why == bot_policy.OVERRIDE_NEVER.code
    assert planned(meeting(bot=False), bot_on(c)).why == bot_policy.NO_EVENTS.code
    back = planned(meeting(c), bot_on(c, state=bot_rules.CANCELLED, reason=bot_policy.NOT_SELECTED.code))
    assert back.action == FOLLOW and back.outcome is not None and back.outcome.reason == bot_policy.SELECTED


def test_a_bot_made_by_hand_serves_the_meeting_and_the_rule_bot_stands_aside() -> None:
    c = copy(1)
    plan = planned(meeting(c, manual=True), bot_on(c))
    assert (plan.action, plan.why, plan.serves) == (CANCEL, bot_policy.MANUAL_BOT.code, bot_policy.MANUAL)


def test_a_bot_cancelled_by_request_stays_unless_an_always_override_asks_again() -> None:
    c = copy(1)
    asked = bot_on(c, state=bot_rules.CANCELLED, reason=bot_rules.CANCELLED_BY_REQUEST.code)
    assert planned(meeting(c), asked).action == NOTHING
    assert planned(meeting(c, override="always"), asked).action == CREATE


def test_a_meeting_that_is_over_keeps_what_it_had() -> None:
    past = copy(1, start=NOW - timedelta(hours=2))
    plan = planned(meeting(past, bot=False), bot_on(past, state=bot_rules.DISPATCHED))
    assert (plan.action, plan.why, plan.serves) == (NOTHING, bot_policy.MEETING_OVER, bot_policy.RULE_BOT)


def test_the_bot_of_an_emptied_meeting_goes_with_its_event() -> None:
    moved = copy(1)
    old = meeting(object_id="mtg_old", bot=False)
    new = meeting(moved, object_id="mtg_new")
    plans = bot_policy.plan_batch(
        [old, new], [bot_on(moved, meeting_id="mtg_old")], now=NOW, stand_down=STAND_DOWN, default_lead=LEAD
    )
    assert plans["mtg_new"].adopted and plans["mtg_new"].action == FOLLOW and plans["mtg_new"].bot_id == 1
    assert plans["mtg_old"].action == NOTHING and plans["mtg_old"].bot_id is None


# Properties. A batch: up to three meetings, five events spread over them (or gone), rule bots of the meetings in
# any state (at most one live per meeting, as the database's unique index holds), random rules and overrides.

_STARTS = [timedelta(hours=-3), timedelta(minutes=-10), timedelta(minutes=1), timedelta(hours=2), timedelta(days=2)]
_ENDED_CODES = [
    bot_policy.NOT_SELECTED.code,
    bot_policy.OVERRIDE_NEVER.code,
    bot_policy.NO_EVENTS.code,
    bot_policy.MANUAL_BOT.code,
    bot_rules.EVENT_CANCELLED.code,
    bot_rules.MEETING_URL_REMOVED.code,
    bot_rules.EVENT_MOVED_TO_PAST.code,
    bot_rules.CANCELLED_BY_REQUEST.code,
    bot_rules.CALENDAR_DELETED.code,
    bot_rules.DISPATCH_MISSED.code,
]
_OVERRIDES = st.sampled_from([None, decide.ALWAYS, decide.NEVER])
_RESPONSES = ["accepted", "declined", "needs_action"]


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[MeetingFacts], list[RuleBot], dict[str, str | None]]:
    meeting_ids = [f"mtg_{i}" for i in range(draw(st.integers(1, 3)))]
    starts = {m: NOW + draw(st.sampled_from(_STARTS)) for m in meeting_ids}
    rules = [
        decide.Rule(f"rul_{i}", priority=draw(st.integers(0, 2)), response=draw(st.sampled_from(decide.RESPONSES)))
        for i in range(draw(st.integers(0, 2)))
    ]
    settings_of = {
        rule.id: Settings(rule.id, f"bot {rule.id}", None, draw(st.sampled_from([-60, 0])), LEAD) for rule in rules
    }
    events: dict[str, list[tuple[Copy, decide.Member]]] = {m: [] for m in meeting_ids}
    all_copies: list[Copy] = []
    for event_id in range(1, 6):
        home = draw(st.sampled_from([*meeting_ids, None]))
        if home is None:
            continue
        url = draw(st.sampled_from([URL, URL, None]))
        connected = draw(st.booleans())
        c = copy(event_id, start=starts[home], connected=connected, url=url, calendar_id=event_id)
        owner = f"u{event_id}@acme.test"
        attendee = {"email": owner, "response_status": draw(st.sampled_from(_RESPONSES))}
        member = decide.Member(
            event_id=c.object_id,
            calendar_id=f"cal_{event_id}",
            start_time=c.followed.start_time,
            end_time=c.followed.end_time or c.followed.start_time,
            meeting_url=url,
            attendees=(attendee,),
            owner_email=owner,
            connected=connected,
            series_override=draw(_OVERRIDES),
        )
        events[home].append((c, member))
        all_copies.append(c)
    overrides = {m: draw(_OVERRIDES) for m in meeting_ids}
    meetings = []
    for m in meeting_ids:
        members = [member for _, member in events[m]]
        decision = decide.decide(members, rules, meeting_override=overrides[m])
        meetings.append(
            MeetingFacts(
                object_id=m,
                decision=decision,
                copies={c.object_id: c for c, _ in events[m]},
                stored_end=starts[m] + timedelta(minutes=30),
                stored_events=draw(st.booleans()),
                manual=draw(st.booleans()),
                rule=settings_of[decision.rule_id] if decision.rule_id else None,
            )
        )
    bots: list[RuleBot] = []
    for bot_id in range(1, draw(st.integers(0, 4)) + 1):
        owner_meeting = draw(st.sampled_from(meeting_ids))
        on = copy(99, start=starts[owner_meeting])  # an event of the meeting that went
        if draw(st.booleans()) and all_copies:
            on = draw(st.sampled_from(all_copies))
        state = draw(st.sampled_from([*bot_rules.ENDED, bot_rules.SCHEDULED, bot_rules.PAUSED, bot_rules.DISPATCHED]))
        reason = draw(st.sampled_from(_ENDED_CODES)) if state in bot_rules.ENDED else None
        bot = bot_on(on, state=state, reason=reason, id=bot_id, meeting_id=owner_meeting)
        if draw(st.booleans()):
            bot = replace(bot, event_id=None, calendar_id=None)  # its event was deleted for good
        bots.append(bot)
    # As stored: a meeting's live bot, if it has one, is its newest (the database holds at most one live bot per
    # meeting, and an evaluation brings back only a meeting's newest bot, creating one only when that has ended).
    newest = {bot.meeting_id: bot.id for bot in bots}
    bots = [bot for bot in bots if not bot.live or newest[bot.meeting_id] == bot.id]
    return meetings, bots, overrides


def carried_out(plans: dict[str, Plan], bots: list[RuleBot]) -> list[RuleBot]:
    """The batch's rule bots once the plans are carried out (what calsync.meetings.apply_plan writes)."""
    by_id = {bot.id: bot for bot in bots}
    next_id = max(by_id, default=0) + 1
    for meeting_id, plan in sorted(plans.items()):
        bot = by_id.get(plan.bot_id) if plan.bot_id is not None else None
        if plan.adopted and bot is not None:
            by_id[bot.id] = bot = replace(bot, meeting_id=meeting_id)
        if plan.action == CREATE:
            assert plan.target is not None and plan.outcome is not None and plan.settings is not None
            o, s = plan.outcome, plan.settings
            offset, lead = timedelta(seconds=s.join_offset_seconds), timedelta(seconds=s.dispatch_lead_seconds)
            facts = bot_rules.BotFacts(o.state, None, o.join_at, o.dispatch_at, o.meeting_url, offset, lead)
            target = plan.target
            by_id[next_id] = RuleBot(
                next_id, meeting_id, target.event_id, target.calendar_id, facts, s.rule_id, s.bot_name, s.metadata
            )
            next_id += 1
        elif plan.action in (CANCEL, FOLLOW) and bot is not None:
            assert plan.outcome is not None
            o, facts = plan.outcome, bot.facts
            rule = plan.settings
            if rule is not None:
                bot = replace(bot, rule_id=rule.rule_id, bot_name=rule.bot_name, metadata=rule.metadata)
                if facts.state != bot_rules.DISPATCHED:
                    offset = timedelta(seconds=rule.join_offset_seconds)
                    lead = timedelta(seconds=rule.dispatch_lead_seconds)
                    facts = replace(facts, join_offset=offset, dispatch_lead=lead)
            if plan.target is not None:
                bot = replace(bot, event_id=plan.target.event_id, calendar_id=plan.target.calendar_id)
            reason = o.reason.code if o.reason is not None else facts.reason_code
            facts = replace(
                facts,
                state=o.state,
                reason_code=reason,
                join_at=o.join_at,
                dispatch_at=o.dispatch_at,
                meeting_url=o.meeting_url,
            )
            by_id[bot.id] = replace(bot, facts=facts)
    return [by_id[bot_id] for bot_id in sorted(by_id)]


def plan(meetings: list[MeetingFacts], bots: list[RuleBot]) -> dict[str, Plan]:
    return bot_policy.plan_batch(meetings, bots, now=NOW, stand_down=STAND_DOWN, default_lead=LEAD)


def over(m: MeetingFacts) -> bool:
    end = m.end
    return (end is not None and end <= NOW) or (end is None and m.stored_end <= NOW and m.stored_events)


@settings(max_examples=400, deadline=None)
@given(batches())
def test_never_two_live_bots_for_one_meeting(batch: tuple[list[MeetingFacts], list[RuleBot], Any]) -> None:
    meetings, bots, _ = batch
    plans = plan(meetings, bots)
    after = carried_out(plans, bots)
    for m in meetings:
        live = [bot for bot in after if bot.meeting_id == m.object_id and bot.live]
        assert len(live) <= 1, (m, live)
        if m.manual and not over(m):
            assert not live and plans[m.object_id].serves == bot_policy.MANUAL
        serving_rule_bot = plans[m.object_id].serves == bot_policy.RULE_BOT
        assert serving_rule_bot == bool(live) or (m.manual and over(m))


@settings(max_examples=400, deadline=None)
@given(batches())
def test_an_override_always_wins(batch: tuple[list[MeetingFacts], list[RuleBot], Any]) -> None:
    meetings, bots, _ = batch
    after = carried_out(plan(meetings, bots), bots)
    for m in meetings:
        if over(m) or m.manual:
            continue  # (a meeting that is over keeps what it had; a bot made by hand serves its meeting)
        live = [bot for bot in after if bot.meeting_id == m.object_id and bot.live]
        if m.decision.override == decide.NEVER:
            assert not live
        future = all(c.followed.start_time > NOW + timedelta(minutes=5) for c in m.copies.values())
        joinable = any(c.followed.meeting_url for c in m.copies.values())
        if m.decision.override == decide.ALWAYS and joinable and future:
            assert live, (m, bots, after)


def _stood_down(bot: RuleBot | None, p: Plan) -> bool:
    """A dispatched bot that the plan stands down (the meeting moved far ahead) keeps its timing, and goes back to
    `scheduled` even on a disconnected calendar; as a scheduled bot, the next evaluation gives it the selecting
    rule's timing and pauses it there: the one known second step."""
    return (
        bot is not None
        and bot.facts.state == bot_rules.DISPATCHED
        and p.outcome is not None
        and p.outcome.state == bot_rules.SCHEDULED
    )


def test_a_bot_standing_down_takes_the_rules_timing_at_the_next_evaluation() -> None:
    c = copy(1)
    m = replace(meeting(c), rule=replace(RULE, join_offset_seconds=0))
    bot = bot_on(c, state=bot_rules.DISPATCHED)
    first = plan([m], [bot])["mtg_a"]
    assert first.outcome is not None and first.outcome.reason == bot_rules.EVENT_RESCHEDULED
    assert first.outcome.join_at == c.followed.start_time - timedelta(seconds=60)  # (still its own offset)
    second = plan([m], carried_out({"mtg_a": first}, [bot]))["mtg_a"]
    assert second.outcome is not None and second.outcome.join_at == c.followed.start_time and second.changes


@settings(max_examples=400, deadline=None)
@given(batches())
def test_planning_again_after_carrying_out_changes_nothing(
    batch: tuple[list[MeetingFacts], list[RuleBot], Any],
) -> None:
    meetings, bots, _ = batch
    first = plan(meetings, bots)
    after = carried_out(first, bots)
    by_id = {bot.id: bot for bot in bots}
    stepped = {m for m, p in first.items() if _stood_down(by_id.get(p.bot_id or 0), p)}
    if stepped:
        after = carried_out(plan(meetings, after), after)  # (that second step, then nothing)
    again = plan(meetings, after)
    for object_id, p in again.items():
        assert p.action not in (CREATE, CANCEL) and not p.changes and not p.adopted, (object_id, p)
