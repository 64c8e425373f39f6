"""When a calendar is checked next when nothing asks sooner (docs/sync.md, "Checks by need"), as pure functions of
times, settings and the calendar's public id, so that a simulated day (tests/sync/test_quota_budget.py) runs the
very policy the engine runs.

- A calendar with a meeting coming up (a live event with a meeting URL) is checked in a window before the
  meeting's dispatch (its start less `bot_dispatch_lead_seconds`), with an access token refreshed inside that
  window: a grant revoked before the window opens is refused then, and the calendar's bots pause with it.
- Otherwise a calendar with a healthy push channel is checked every `push_safety_net_seconds` at most, and one
  without push every `sync_fallback_interval_seconds` at most.

Every due time sits at a point of the calendar's own (a hash of its public id), not at a time derived from when
it last happened to sync: calendars created, reconnected or caught up together spread over the whole interval
(or window) at their next check, so neither renewals nor safety nets nor top-of-hour meetings make bursts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from calsync.settings import Settings

# The origin of every calendar's slots; any fixed instant does.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

SAFETY_NET = "safety_net"
POLL = "fallback"
MEETING_CHECK = "meeting_check"


def phase(key: str) -> float:
    """A calendar's fixed point in [0, 1): the same on every worker and after every restart."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def interval_for(settings: Settings, *, push_healthy: bool) -> timedelta:
    seconds = settings.push_safety_net_seconds if push_healthy else settings.sync_fallback_interval_seconds
    return timedelta(seconds=seconds)


def periodic_check(now: datetime, key: str, interval: timedelta) -> datetime:
    """The last of the calendar's slots (half an interval apart) at or before `now + interval`: more than half an
    interval away and at most one, so a calendar checked at its slot is next checked one interval later."""
    slot = interval / 2
    offset = slot * phase(key)
    slots = (now + interval - EPOCH - offset) // slot
    return EPOCH + offset + slot * slots


@dataclass(frozen=True)
class MeetingWindow:
    """When the check before one meeting may run: it is due at the calendar's point in [opens, closes]."""

    opens: datetime
    closes: datetime
    dispatch: datetime


def meeting_window(start: datetime, settings: Settings) -> MeetingWindow:
    dispatch = start - timedelta(seconds=settings.bot_dispatch_lead_seconds)
    return MeetingWindow(
        opens=dispatch - timedelta(seconds=settings.meeting_check_window_seconds),
        closes=dispatch - timedelta(seconds=settings.meeting_check_slack_seconds),
        dispatch=dispatch,
    )


def meeting_check(start: datetime, key: str, now: datetime, settings: Settings) -> datetime:
    """The check before the meeting starting at `start`; now when its window is already open."""
    window = meeting_window(start, settings)
    return max(now, window.opens + (window.closes - window.opens) * phase(key))


def unchecked_meetings_from(now: datetime, token_refreshed_at: datetime | None, settings: Settings) -> datetime:
    """Meetings starting after this still need a check: their dispatch is ahead, and no token refresh since their
    window opened has shown the grant alive. Without a known refresh time the check running now counts for the
    meetings whose window is open."""
    lead = timedelta(seconds=settings.bot_dispatch_lead_seconds)
    window = timedelta(seconds=settings.meeting_check_window_seconds)
    proven = now if token_refreshed_at is None else token_refreshed_at
    return max(now + lead, proven + lead + window)


def meeting_horizon(now: datetime, settings: Settings, *, push_healthy: bool) -> datetime:
    """Meetings starting after this are left to a later check: the next periodic one comes before their window."""
    lead = timedelta(seconds=settings.bot_dispatch_lead_seconds + settings.meeting_check_window_seconds)
    return now + interval_for(settings, push_healthy=push_healthy) + lead


@dataclass(frozen=True)
class NextCheck:
    due_at: datetime
    reason: str
    # Set when a meeting is coming up: from then on a sync refreshes the access token (calsync.sync.tokens).
    meeting_check_opens_at: datetime | None


def next_check(
    now: datetime, key: str, settings: Settings, *, push_healthy: bool, next_meeting_start: datetime | None
) -> NextCheck:
    """The next check of a calendar that just synced, given the start of its next meeting still unchecked."""
    due = periodic_check(now, key, interval_for(settings, push_healthy=push_healthy))
    reason = SAFETY_NET if push_healthy else POLL
    opens: datetime | None = None
    if next_meeting_start is not None:
        opens = meeting_window(next_meeting_start, settings).opens
        before_meeting = meeting_check(next_meeting_start, key, now, settings)
        if before_meeting < due:
            due, reason = before_meeting, MEETING_CHECK
    return NextCheck(due_at=due, reason=reason, meeting_check_opens_at=opens)
