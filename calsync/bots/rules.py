"""The bot state machine, as pure functions of a bot, the meeting it follows and the time (no database, no clock).

    scheduled ──(dispatch time)──▶ dispatched
      │   ▲                          │   ▲
      ▼   │ reconnect                │   └─ the meeting moved far: back to scheduled, dispatched again in time
    paused (calendar disconnected)   ▼
                               cancelled / failed (with a reason code)

The rules, decided once here and documented in docs/bots.md:

- An event-tied bot's `join_at` is the event's start plus `join_offset_seconds`, its `dispatch_at` is `join_at`
  minus `dispatch_lead_seconds`, its `meeting_url` the event's. They follow every change of the event.
- A bot is *too late* once both its join time and its meeting's start have passed. A bot that is not yet dispatched
  and too late cannot run as asked: it fails. One whose dispatch time has passed but is not too late is due at once.
- A dispatched bot keeps following its meeting until the meeting ends. If the meeting moves so that the bot's new
  dispatch time is more than `stand_down` away, the bot stands down (back to `scheduled`) and is dispatched again
  then; otherwise it stays dispatched and the runner gets the new join time. Once the meeting is over, later edits
  of the event no longer concern it.
- An end caused by the event (cancelled, link removed, moved into the past) is undone when the event comes back
  while it can still be joined. An end asked for (DELETE, calendar deleted) is final.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from calsync.store.models.bot import BotState

SCHEDULED = BotState.SCHEDULED.value
DISPATCHED = BotState.DISPATCHED.value
PAUSED = BotState.PAUSED.value
CANCELLED = BotState.CANCELLED.value
FAILED = BotState.FAILED.value
ENDED = (CANCELLED, FAILED)


@dataclass(frozen=True)
class Reason:
    code: str
    message: str

    def json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


# Every transition carries one of these as `state_reason`.
DISPATCH_TIME_REACHED = Reason("dispatch_time_reached", "The dispatch time was reached; the runner was told to launch.")
DISPATCH_MISSED = Reason("dispatch_missed", "The meeting had ended before the bot could be dispatched.")
CALENDAR_DISCONNECTED = Reason("calendar_disconnected", "The bot's calendar was disconnected.")
CALENDAR_RECONNECTED = Reason("calendar_reconnected", "The bot's calendar was reconnected.")
CALENDAR_DELETED = Reason("calendar_deleted", "The bot's calendar was deleted.")
CANCELLED_BY_REQUEST = Reason("cancelled_by_request", "The bot was cancelled through the API.")
# The same transition asked for by an operator (the dashboard's Cancel): one code, the message says where from.
CANCELLED_FROM_DASHBOARD = Reason("cancelled_by_request", "The bot was cancelled from the dashboard.")
EVENT_CANCELLED = Reason("event_cancelled", "The calendar event was cancelled or deleted.")
MEETING_URL_REMOVED = Reason("meeting_url_removed", "The calendar event no longer has a meeting URL.")
EVENT_MOVED_TO_PAST = Reason(
    "event_moved_to_past", "The calendar event moved so that the meeting has started and the join time has passed."
)
MISSED_WHILE_PAUSED = Reason("missed_while_paused", "The meeting started while the bot's calendar was disconnected.")
EVENT_RESCHEDULED = Reason(
    "event_rescheduled", "The meeting moved; the bot stands down and will be dispatched again in time."
)
EVENT_RESTORED = Reason("event_restored", "The calendar event can be joined again.")

# Ends the event caused, and which the event can undo; any other end is final.
EVENT_CAUSED_ENDS = frozenset({EVENT_CANCELLED.code, MEETING_URL_REMOVED.code, EVENT_MOVED_TO_PAST.code})


@dataclass(frozen=True)
class Meeting:
    """What a bot follows: its event as stored, or for a bot without an event its own join time and URL."""

    start_time: datetime
    end_time: datetime | None  # None: no known end (a bot without an event)
    meeting_url: str | None
    is_deleted: bool = False


@dataclass(frozen=True)
class BotFacts:
    """The stored bot, as far as the rules care."""

    state: str
    reason_code: str | None
    join_at: datetime
    dispatch_at: datetime
    meeting_url: str
    join_offset: timedelta
    dispatch_lead: timedelta


@dataclass(frozen=True)
class Outcome:
    """What the bot becomes. `reason` is the new `state_reason` when the state changes (None: unchanged)."""

    state: str
    reason: Reason | None
    join_at: datetime
    dispatch_at: datetime
    meeting_url: str

    @property
    def due_at(self) -> datetime | None:
        """The dispatch loop's due time: set exactly while scheduled."""
        return self.dispatch_at if self.state == SCHEDULED else None


def unchanged(bot: BotFacts) -> Outcome:
    return Outcome(bot.state, None, bot.join_at, bot.dispatch_at, bot.meeting_url)


def is_final(bot: BotFacts) -> bool:
    """Ended for good: asked for, or an end its event cannot undo."""
    return bot.state in ENDED and bot.reason_code not in EVENT_CAUSED_ENDS


def too_late(join_at: datetime, start_time: datetime, now: datetime) -> bool:
    """Both the join time and the meeting's start have passed (a negative offset may join before the start; a
    positive one after it)."""
    return join_at <= now and start_time <= now


def times(start_time: datetime, join_offset: timedelta, dispatch_lead: timedelta) -> tuple[datetime, datetime]:
    """(join_at, dispatch_at) of a meeting starting at `start_time`."""
    join_at = start_time + join_offset
    return join_at, join_at - dispatch_lead


def follow(
    bot: BotFacts,
    meeting: Meeting,
    *,
    previous_end: datetime | None,
    connected: bool,
    now: datetime,
    stand_down: timedelta,
    late: Reason = EVENT_MOVED_TO_PAST,
) -> Outcome:
    """The bot after its meeting became `meeting` (its event changed, its calendar reconnected, or its own timing
    was patched). `previous_end` is when the meeting ended before this change (None: unknown or never); `connected`
    whether its calendar is; `late` the reason given when the bot turns out too late to run."""
    if is_final(bot):
        return unchanged(bot)
    if bot.state == DISPATCHED and previous_end is not None and previous_end <= now:
        # The meeting is over: the bot did its job, and later edits of a past event are not its concern.
        return unchanged(bot)
    join_at, dispatch_at = times(meeting.start_time, bot.join_offset, bot.dispatch_lead)
    # A bot keeps its last link when the event loses its own: it fails, and says what it would have joined.
    following = Outcome(bot.state, None, join_at, dispatch_at, meeting.meeting_url or bot.meeting_url)

    if meeting.is_deleted:
        return _become(bot, following, CANCELLED, EVENT_CANCELLED)
    if meeting.meeting_url is None:
        return _become(bot, following, FAILED, MEETING_URL_REMOVED)
    if bot.state == DISPATCHED:
        if meeting.end_time is not None and meeting.end_time <= now:
            return _become(bot, following, FAILED, EVENT_MOVED_TO_PAST)
        if dispatch_at - now > stand_down:
            return _become(bot, following, SCHEDULED, EVENT_RESCHEDULED)
        return following
    if too_late(join_at, meeting.start_time, now):
        return _become(bot, following, FAILED, late)
    target = SCHEDULED if connected else PAUSED
    if bot.state in ENDED:
        return _become(bot, following, target, EVENT_RESTORED)
    if bot.state == PAUSED and target == SCHEDULED:
        return _become(bot, following, SCHEDULED, CALENDAR_RECONNECTED)
    if bot.state == SCHEDULED and target == PAUSED:
        return _become(bot, following, PAUSED, CALENDAR_DISCONNECTED)
    return following


def _become(bot: BotFacts, outcome: Outcome, state: str, reason: Reason) -> Outcome:
    """`outcome` in `state`; a bot already in that state keeps its reason (no transition, nothing to announce)."""
    return replace(outcome, state=state, reason=None if bot.state == state else reason)


def pause(bot: BotFacts) -> Outcome:
    """Its calendar disconnected: a scheduled bot waits (a dispatched one is already with the runner)."""
    if bot.state != SCHEDULED:
        return unchanged(bot)
    return replace(unchanged(bot), state=PAUSED, reason=CALENDAR_DISCONNECTED)


def cancel(bot: BotFacts, reason: Reason) -> Outcome:
    """Cancelled for good (DELETE, calendar deleted). A bot already cancelled stays so, its reason made final."""
    if bot.state == CANCELLED:
        return replace(unchanged(bot), reason=reason if bot.reason_code in EVENT_CAUSED_ENDS else None)
    return replace(unchanged(bot), state=CANCELLED, reason=reason)


def dispatch(bot: BotFacts, meeting_end: datetime | None, now: datetime) -> Outcome:
    """A due bot at dispatch: dispatched, unless its meeting ended meanwhile (every worker was down)."""
    if meeting_end is not None and meeting_end <= now:
        return replace(unchanged(bot), state=FAILED, reason=DISPATCH_MISSED)
    return replace(unchanged(bot), state=DISPATCHED, reason=DISPATCH_TIME_REACHED)
