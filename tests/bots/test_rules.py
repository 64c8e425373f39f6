"""The bot state machine (calsync.bots.rules), case by case: pure functions, no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from calsync.bots import rules
from calsync.bots.rules import BotFacts, Meeting

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
START = NOW + timedelta(hours=2)
URL = "https://meet.google.com/abc-defg-hij"
NEW_URL = "https://meet.google.com/xyz-wvut-srq"
LEAD = timedelta(minutes=2)
STAND_DOWN = timedelta(minutes=5)


def bot(
    state: str = rules.SCHEDULED, *, reason: str | None = None, start: datetime = START, offset: int = 0
) -> BotFacts:
    join_at, dispatch_at = rules.times(start, timedelta(seconds=offset), LEAD)
    return BotFacts(state, reason, join_at, dispatch_at, URL, timedelta(seconds=offset), LEAD)


def event(start: datetime = START, *, minutes: int = 30, url: str | None = URL, deleted: bool = False) -> Meeting:
    return Meeting(start, start + timedelta(minutes=minutes), url, deleted)


def follow(facts: BotFacts, meeting: Meeting, *, connected: bool = True, previous_end: datetime | None = None, **kw):
    previous_end = previous_end if previous_end is not None else START + timedelta(minutes=30)
    return rules.follow(
        facts, meeting, previous_end=previous_end, connected=connected, now=NOW, stand_down=STAND_DOWN, **kw
    )


def test_a_moved_event_moves_the_join_and_dispatch_times() -> None:
    outcome = follow(bot(), event(START + timedelta(hours=1)))
    assert outcome.state == rules.SCHEDULED and outcome.reason is None
    assert outcome.join_at == START + timedelta(hours=1) and outcome.dispatch_at == START + timedelta(hours=1) - LEAD
    assert outcome.due_at == outcome.dispatch_at


def test_offsets_apply_to_the_new_start() -> None:
    outcome = follow(bot(offset=-300), event(START + timedelta(hours=1)))
    assert outcome.join_at == START + timedelta(hours=1, minutes=-5)


def test_a_new_link_is_followed_and_a_removed_one_fails_the_bot_keeping_the_last_link() -> None:
    assert follow(bot(), event(url=NEW_URL)).meeting_url == NEW_URL
    removed = follow(bot(), event(url=None))
    assert (removed.state, removed.reason, removed.meeting_url) == (rules.FAILED, rules.MEETING_URL_REMOVED, URL)
    assert removed.due_at is None


def test_a_cancelled_event_cancels_its_bot_in_any_live_state() -> None:
    for state in (rules.SCHEDULED, rules.PAUSED, rules.DISPATCHED):
        outcome = follow(bot(state), event(deleted=True))
        assert (outcome.state, outcome.reason) == (rules.CANCELLED, rules.EVENT_CANCELLED)


def test_an_event_moved_into_the_past_fails_a_bot_not_yet_dispatched() -> None:
    outcome = follow(bot(), event(NOW - timedelta(minutes=1)))
    assert (outcome.state, outcome.reason) == (rules.FAILED, rules.EVENT_MOVED_TO_PAST)


def test_a_dispatch_time_that_passed_before_the_meeting_starts_makes_the_bot_due_at_once() -> None:
    outcome = follow(bot(), event(NOW + timedelta(minutes=1)))
    assert outcome.state == rules.SCHEDULED and outcome.due_at is not None and outcome.due_at < NOW


def test_too_late_needs_both_the_join_time_and_the_start_passed() -> None:
    # Joining five minutes early, the meeting in two minutes: not too late, due at once.
    early = follow(bot(offset=-300), event(NOW + timedelta(minutes=2)))
    assert early.state == rules.SCHEDULED
    # Joining ten minutes after the start, which was a minute ago: still ahead.
    late_join = follow(bot(offset=600), event(NOW - timedelta(minutes=1)))
    assert late_join.state == rules.SCHEDULED and late_join.join_at == NOW + timedelta(minutes=9)
    assert rules.too_late(NOW, NOW, NOW) and not rules.too_late(NOW + timedelta(seconds=1), NOW, NOW)


def test_a_dispatched_bot_stays_dispatched_for_a_small_move_and_stands_down_for_a_far_one() -> None:
    dispatched = bot(rules.DISPATCHED, start=NOW + timedelta(minutes=1))
    near = follow(dispatched, event(NOW + timedelta(minutes=6)))
    assert near.state == rules.DISPATCHED and near.reason is None and near.join_at == NOW + timedelta(minutes=6)
    far = follow(dispatched, event(NOW + timedelta(hours=3)))
    assert (far.state, far.reason) == (rules.SCHEDULED, rules.EVENT_RESCHEDULED)
    assert far.due_at == NOW + timedelta(hours=3) - LEAD


def test_a_dispatched_bot_whose_meeting_moved_entirely_into_the_past_fails() -> None:
    outcome = follow(bot(rules.DISPATCHED), event(NOW - timedelta(hours=2)))
    assert (outcome.state, outcome.reason) == (rules.FAILED, rules.EVENT_MOVED_TO_PAST)


def test_a_dispatched_bot_whose_meeting_is_over_ignores_later_edits() -> None:
    dispatched = bot(rules.DISPATCHED, start=NOW - timedelta(hours=2))
    for change in (event(deleted=True), event(NOW + timedelta(days=1)), event(url=None)):
        assert follow(dispatched, change, previous_end=NOW - timedelta(hours=1)) == rules.unchanged(dispatched)


def test_ends_caused_by_the_event_are_undone_when_it_comes_back_and_asked_ends_are_final() -> None:
    for reason in rules.EVENT_CAUSED_ENDS:
        state = rules.CANCELLED if reason == rules.EVENT_CANCELLED.code else rules.FAILED
        outcome = follow(bot(state, reason=reason), event())
        assert (outcome.state, outcome.reason) == (rules.SCHEDULED, rules.EVENT_RESTORED)
    for reason in (rules.CANCELLED_BY_REQUEST, rules.CALENDAR_DELETED, rules.DISPATCH_MISSED):
        ended = bot(rules.CANCELLED, reason=reason.code)
        assert follow(ended, event()) == rules.unchanged(ended)


def test_an_ended_bot_changing_end_keeps_its_state_reason_when_its_state_stays() -> None:
    failed = bot(rules.FAILED, reason=rules.MEETING_URL_REMOVED.code)
    still = follow(failed, event(url=None, start=START + timedelta(hours=1)))
    assert still.state == rules.FAILED and still.reason is None
    cancelled = follow(failed, event(deleted=True))
    assert (cancelled.state, cancelled.reason) == (rules.CANCELLED, rules.EVENT_CANCELLED)


def test_connectivity_pauses_and_resumes() -> None:
    paused = follow(bot(), event(), connected=False)
    assert (paused.state, paused.reason, paused.due_at) == (rules.PAUSED, rules.CALENDAR_DISCONNECTED, None)
    resumed = follow(bot(rules.PAUSED), event())
    assert (resumed.state, resumed.reason) == (rules.SCHEDULED, rules.CALENDAR_RECONNECTED)
    missed = follow(bot(rules.PAUSED), event(NOW - timedelta(minutes=5)), late=rules.MISSED_WHILE_PAUSED)
    assert (missed.state, missed.reason) == (rules.FAILED, rules.MISSED_WHILE_PAUSED)
    moved_while_paused = follow(bot(rules.PAUSED), event(START + timedelta(hours=1)), connected=False)
    assert moved_while_paused.state == rules.PAUSED and moved_while_paused.reason is None
    assert moved_while_paused.due_at is None and moved_while_paused.join_at == START + timedelta(hours=1)


def test_pause_touches_only_scheduled_bots() -> None:
    assert rules.pause(bot()).state == rules.PAUSED
    for state in (rules.DISPATCHED, rules.PAUSED, rules.CANCELLED, rules.FAILED):
        assert rules.pause(bot(state)) == rules.unchanged(bot(state))


@pytest.mark.parametrize("state", [rules.SCHEDULED, rules.DISPATCHED, rules.PAUSED, rules.FAILED])
def test_cancel_ends_any_bot(state: str) -> None:
    outcome = rules.cancel(bot(state), rules.CANCELLED_BY_REQUEST)
    assert (outcome.state, outcome.reason) == (rules.CANCELLED, rules.CANCELLED_BY_REQUEST)


def test_cancelling_a_cancelled_bot_makes_an_event_caused_end_final() -> None:
    by_event = rules.cancel(bot(rules.CANCELLED, reason=rules.EVENT_CANCELLED.code), rules.CANCELLED_BY_REQUEST)
    assert (by_event.state, by_event.reason) == (rules.CANCELLED, rules.CANCELLED_BY_REQUEST)
    final = bot(rules.CANCELLED, reason=rules.CALENDAR_DELETED.code)
    assert rules.cancel(final, rules.CANCELLED_BY_REQUEST) == rules.unchanged(final)


def test_dispatch() -> None:
    outcome = rules.dispatch(bot(), START + timedelta(minutes=30), NOW)
    assert (outcome.state, outcome.reason, outcome.due_at) == (rules.DISPATCHED, rules.DISPATCH_TIME_REACHED, None)
    assert rules.dispatch(bot(), None, NOW).state == rules.DISPATCHED  # a bot without an event has no end
    missed = rules.dispatch(replace(bot()), NOW - timedelta(seconds=1), NOW)
    assert (missed.state, missed.reason) == (rules.FAILED, rules.DISPATCH_MISSED)
