"""A simulated day of background provider calls: 10,000 idle Google calendars, some idle Microsoft ones and a few
with meetings, run through the policy the engine runs (calsync.sync.schedule for due times, calsync.sync.tokens
for token reuse, calsync.sync.channels for renewals) under a fake clock. Counts the calls by kind and checks the
budget (docs/sync.md, "Checks by need") and the bounds: idle calendars checked at least every safety-net interval,
a token refresh inside every meeting's check window, no bot dispatched for a grant revoked before that window,
and the platforms' rate limits. No database or network: a day runs in seconds."""

from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from calsync.providers.base import TokenGrant
from calsync.security.secret_box import SecretBox
from calsync.settings import Settings
from calsync.store.models import Calendar, PushChannel
from calsync.sync import channels, schedule, tokens
from calsync.sync.window import next_full_reconcile

DAY = timedelta(days=1)
START = datetime(2026, 12, 7, tzinfo=UTC)  # a Monday, midnight UTC
TOKEN_LIFETIME = timedelta(hours=1)
# A worker starts a due sync within this (claim latency), and a sync's writes end this long after it starts.
PICKUP = timedelta(seconds=5)
SYNC_TIME = timedelta(seconds=1)
IDLE_GOOGLE = 10_000
IDLE_MICROSOFT = 200
# What the platforms publish: Google per project and per user per minute; Graph per mailbox per 10 minutes.
GOOGLE_PROJECT_PER_MINUTE = 10_000
GOOGLE_USER_PER_MINUTE = 600
GRAPH_MAILBOX_PER_10_MINUTES = 10_000
# Calendar API calls (token calls apart) an idle Google calendar may cost a day.
IDLE_DAILY_BUDGET = 10
CALENDAR_API_KINDS = ("listing", "channel_open", "channel_renew", "channel_stop")


@dataclass
class Meeting:
    start: datetime
    known_from: datetime  # when a sync can first see it (created earlier, or by a push at this time)
    dispatched: bool = False


@dataclass
class SimCalendar:
    row: Calendar
    channel_rows: list[PushChannel]
    meetings: list[Meeting] = field(default_factory=list)
    revoked_at: datetime | None = None
    disconnected_at: datetime | None = None
    pushes: list[datetime] = field(default_factory=list)
    checks: list[datetime] = field(default_factory=list)
    refreshes: list[datetime] = field(default_factory=list)


class PlainBox:
    """Stands in for the secret box: the policy reads token times, and encryption would be most of the run time."""

    def encrypt(self, plaintext: bytes) -> bytes:
        return plaintext

    def decrypt(self, token: bytes) -> bytes:
        return token


class Day:
    """The calendars' background syncs, one after another in time order, as the engine would run them."""

    def __init__(self, settings: Settings, rng: random.Random) -> None:
        self.settings = settings
        self.rng = rng
        self.box = cast(SecretBox, PlainBox())
        self.calendars: list[SimCalendar] = []
        self.calls: Counter[str] = Counter()
        self.calls_of: dict[int, Counter[str]] = defaultdict(Counter)
        self.call_times: list[tuple[datetime, int, str]] = []
        self.queue: list[tuple[datetime, int, int, str]] = []
        self.sequence = 0

    def add(self, platform: str, *, now: datetime) -> SimCalendar:
        """A connected calendar with a channel, as a service running for a while leaves it: its last check some
        time within the safety-net interval (its token expired since), its channel opened within the last two
        days, its daily reconcile due some time in the next day."""
        index = len(self.calendars)
        row = Calendar(
            id=index + 1,
            object_id=f"cal_{index:06d}",
            platform=platform,
            state="connected",
            push_state="active",
            sync_cursor="cursor",
            next_full_sync_at=now + DAY * self.rng.random(),
            encrypted_access_token=None,
            access_token_expires_at=None,
        )
        opened = now - 2 * DAY * self.rng.random()
        channel = PushChannel(
            id=index + 1, channel_id=f"ch_{index}", status="active", expires_at=opened + channels.CHANNEL_LIFETIME
        )
        calendar = SimCalendar(row=row, channel_rows=[channel])
        self.calendars.append(calendar)
        interval = schedule.interval_for(self.settings, push_healthy=True)
        due = schedule.periodic_check(now - interval * self.rng.random(), row.object_id, interval)
        while due <= now:
            due += interval  # that check ran before the simulation: the next is one interval later
        row.sync_due_at = due
        self._enqueue(due, index, "due")
        return calendar

    def plan_meetings(self, calendar: SimCalendar, now: datetime) -> None:
        """The due time the last check (before the simulation) left, knowing the calendar's meetings."""
        lead = timedelta(seconds=self.settings.bot_dispatch_lead_seconds)
        start = min((m.start for m in calendar.meetings if m.start - lead > now), default=None)
        if start is None:
            return
        calendar.row.meeting_check_opens_at = schedule.meeting_window(start, self.settings).opens
        due = schedule.meeting_check(start, calendar.row.object_id, now, self.settings)
        if due < calendar.row.sync_due_at:
            calendar.row.sync_due_at = due
            self._enqueue(due, calendar.row.id - 1, "due")

    def push(self, calendar: SimCalendar, at: datetime) -> None:
        calendar.pushes.append(at)
        self._enqueue(at, self.calendars.index(calendar), "push")

    def _enqueue(self, at: datetime, index: int, kind: str) -> None:
        self.sequence += 1
        heapq.heappush(self.queue, (at, self.sequence, index, kind))

    def _call(self, calendar: SimCalendar, at: datetime, kind: str) -> None:
        self.calls[kind] += 1
        self.calls_of[calendar.row.id][kind] += 1
        self.call_times.append((at, calendar.row.id, kind))

    def run(self, until: datetime) -> None:
        dispatches = sorted(
            ((meeting.start - timedelta(seconds=self.settings.bot_dispatch_lead_seconds), id(meeting), cal, meeting))
            for cal in self.calendars
            for meeting in cal.meetings
        )
        while self.queue and self.queue[0][0] < until:
            at, _seq, index, kind = heapq.heappop(self.queue)
            dispatches = self._dispatch(dispatches, at)
            calendar = self.calendars[index]
            row = calendar.row
            if calendar.disconnected_at is not None:
                continue
            if kind == "due" and row.sync_due_at != at:
                continue  # moved earlier by a push meanwhile
            self._sync(calendar, at + PICKUP * self.rng.random())
        self._dispatch(dispatches, until)

    @staticmethod
    def _dispatch(dispatches: list[tuple[datetime, int, SimCalendar, Meeting]], now: datetime) -> list:
        """The dispatch loop: a bot of a connected calendar is dispatched; a disconnect paused it."""
        while dispatches and dispatches[0][0] <= now:
            _due, _key, calendar, meeting = dispatches.pop(0)
            meeting.dispatched = calendar.disconnected_at is None
        return dispatches

    def _sync(self, calendar: SimCalendar, now: datetime) -> None:
        row = calendar.row
        calendar.checks.append(now)
        revoked = calendar.revoked_at is not None and calendar.revoked_at <= now
        if tokens.cached_access_token(self.box, row, now) is None:
            self._call(calendar, now, "token")
            if revoked:
                calendar.disconnected_at = now  # invalid_grant: disconnected, its bots paused
                return
            tokens.store_grant(self.box, row, TokenGrant("access", now + TOKEN_LIFETIME), now)
            calendar.refreshes.append(now)
        # Worst case for a revoked grant: the platform keeps honouring the access token it issued before.
        self._call(calendar, now, "listing")
        if row.next_full_sync_at is not None and row.next_full_sync_at <= now:
            row.next_full_sync_at = next_full_reconcile(now, self.settings, self.rng)
        self._maintain_channels(calendar, now)
        finished = now + SYNC_TIME
        start = self._next_meeting(calendar, finished)
        plan = schedule.next_check(finished, row.object_id, self.settings, push_healthy=True, next_meeting_start=start)
        row.meeting_check_opens_at = plan.meeting_check_opens_at
        row.sync_due_at = plan.due_at
        self._enqueue(plan.due_at, calendar.row.id - 1, "due")

    def _next_meeting(self, calendar: SimCalendar, now: datetime) -> datetime | None:
        """As calsync.sync.upcoming.next_meeting_start over the events this sync has seen."""
        after = schedule.unchecked_meetings_from(now, calendar.row.access_token_refreshed_at, self.settings)
        before = schedule.meeting_horizon(now, self.settings, push_healthy=True)
        starts = [m.start for m in calendar.meetings if m.known_from <= now and after < m.start < before]
        return min(starts, default=None)

    def _maintain_channels(self, calendar: SimCalendar, now: datetime) -> None:
        """As the engine's channel upkeep: Graph renews by PATCH; Google opens a replacement and stops the old."""
        plan = channels.ChannelPlan(calendar.channel_rows, now)
        if plan.keep is not None and not plan.stop:
            return
        to_stop = list(plan.stop)
        kept = [plan.keep] if plan.keep is not None else []
        if plan.keep is None and plan.renew is not None:
            if calendar.row.platform == "microsoft":
                self._call(calendar, now, "channel_renew")
                plan.renew.expires_at = now + channels.CHANNEL_LIFETIME
                kept = [plan.renew]
            else:
                to_stop.append(plan.renew)
        if not kept:
            self._call(calendar, now, "channel_open")
            kept = [PushChannel(channel_id="new", status="active", expires_at=now + channels.CHANNEL_LIFETIME)]
        for _row in to_stop:
            self._call(calendar, now, "channel_stop")
        calendar.channel_rows = kept


def simulated_day(settings: Settings) -> tuple[Day, list[SimCalendar], dict[str, SimCalendar]]:
    rng = random.Random(20261207)
    day = Day(settings, rng)
    idle = [day.add("google", now=START) for _ in range(IDLE_GOOGLE)]
    idle += [day.add("microsoft", now=START) for _ in range(IDLE_MICROSOFT)]
    hour = timedelta(hours=1)
    busy: dict[str, SimCalendar] = {}

    def with_meetings(name: str, *starts: timedelta, platform: str = "google") -> SimCalendar:
        calendar = day.add(platform, now=START)
        calendar.meetings = [Meeting(START + offset, known_from=START - DAY) for offset in starts]
        day.plan_meetings(calendar, START)
        busy[name] = calendar
        return calendar

    with_meetings("one at the top of the hour", 10 * hour)
    with_meetings("back to back", 9 * hour, 9.5 * hour, 10 * hour, 10.5 * hour, 11 * hour)
    with_meetings("five minutes apart", 14 * hour, 14 * hour + timedelta(minutes=5))
    with_meetings("early morning", timedelta(minutes=5))
    with_meetings("a Microsoft calendar", 9 * hour, 15 * hour, platform="microsoft")
    pushed = with_meetings("edited through the day", 11 * hour, 16 * hour)
    for minutes in (30, 200, 610, 655, 700, 950):
        day.push(pushed, START + timedelta(minutes=minutes))
    late = with_meetings("a meeting created four minutes before it starts")
    late.meetings = [Meeting(START + 13 * hour, known_from=START + 13 * hour - timedelta(minutes=4))]
    day.push(late, START + 13 * hour - timedelta(minutes=4))
    # Revoked eleven minutes before the dispatch: outside the bound, so no bot may be dispatched.
    revoked_early = with_meetings("revoked before the check window", 12 * hour)
    revoked_early.revoked_at = START + 12 * hour - timedelta(seconds=settings.bot_dispatch_lead_seconds + 660)
    # Revoked one minute before: within the bound, the bot may still go.
    revoked_late = with_meetings("revoked inside the check window", 12 * hour)
    revoked_late.revoked_at = START + 12 * hour - timedelta(seconds=settings.bot_dispatch_lead_seconds + 60)
    # Every meeting of this many calendars at one instant (10:00): their checks must not pile up.
    for index in range(2_000):
        with_meetings(f"top of the hour {index}", 10 * hour)
    day.run(START + DAY)
    return day, idle, busy


@pytest.fixture(scope="module")
def settings() -> Settings:
    """The defaults (this module needs no database: it replaces the suite's `settings`)."""
    return Settings()


@pytest.fixture(scope="module")
def day(settings: Settings) -> tuple[Day, list[SimCalendar], dict[str, SimCalendar]]:
    return simulated_day(settings)


def per_window(times: list[datetime], width: timedelta) -> Counter[int]:
    return Counter(int((at - START) / width) for at in times)


def test_an_idle_google_calendar_costs_at_most_ten_calendar_api_calls_a_day(
    day: tuple[Day, list[SimCalendar], dict[str, SimCalendar]],
) -> None:
    sim, idle, _busy = day
    google = [calendar for calendar in idle if calendar.row.platform == "google"]
    per_calendar = [sum(sim.calls_of[c.row.id][kind] for kind in CALENDAR_API_KINDS) for c in google]
    assert max(per_calendar) <= IDLE_DAILY_BUDGET
    by_kind = {
        kind: sum(sim.calls_of[c.row.id][kind] for c in google) * 100_000 / len(google)
        for kind in ("token", *CALENDAR_API_KINDS)
    }
    # The numbers in docs/sync.md ("Checks by need"), per 100,000 idle Google calendars a day, within 10%.
    documented = {"token": 400_000, "listing": 400_000, "channel_open": 47_000, "channel_stop": 47_000}
    for kind, expected in documented.items():
        assert by_kind[kind] == pytest.approx(expected, rel=0.1), (kind, by_kind)
    assert by_kind["channel_renew"] == 0  # Google channels are replaced, not extended


def test_idle_calendars_are_checked_at_least_every_safety_net_interval(
    day: tuple[Day, list[SimCalendar], dict[str, SimCalendar]], settings: Settings
) -> None:
    _sim, idle, _busy = day
    bound = timedelta(seconds=settings.push_safety_net_seconds) + PICKUP
    for calendar in idle:
        checks = [START, *calendar.checks]
        assert all(later - earlier <= bound for earlier, later in itertools.pairwise(checks))
        assert START + DAY - checks[-1] <= bound
        # Channels are renewed by the checks, never allowed to lapse.
        assert all(row.expires_at > START + DAY for row in calendar.channel_rows)


def test_tokens_are_reused_while_valid_outside_meeting_windows(
    day: tuple[Day, list[SimCalendar], dict[str, SimCalendar]],
) -> None:
    sim, _idle, busy = day
    edited = busy["edited through the day"]
    # Six pushes and the periodic and meeting checks: pushes within an hour of a refresh reuse its token.
    assert sim.calls_of[edited.row.id]["listing"] > sim.calls_of[edited.row.id]["token"]


def test_every_meeting_gets_a_token_refresh_inside_its_check_window(
    day: tuple[Day, list[SimCalendar], dict[str, SimCalendar]], settings: Settings
) -> None:
    _sim, _idle, busy = day
    for name, calendar in busy.items():
        if calendar.revoked_at is not None:
            continue
        for meeting in calendar.meetings:
            window = schedule.meeting_window(meeting.start, settings)
            opens = max(window.opens, meeting.known_from)
            assert any(opens <= at < window.dispatch for at in calendar.refreshes), (name, meeting.start)
            assert meeting.dispatched, name


def test_no_bot_is_dispatched_for_a_grant_revoked_before_the_check_window(
    day: tuple[Day, list[SimCalendar], dict[str, SimCalendar]], settings: Settings
) -> None:
    _sim, _idle, busy = day
    early = busy["revoked before the check window"]
    [meeting] = early.meetings
    assert early.disconnected_at is not None and early.disconnected_at < meeting.start
    assert not meeting.dispatched
    late = busy["revoked inside the check window"]
    assert late.revoked_at is not None
    assert late.revoked_at > schedule.meeting_window(late.meetings[0].start, settings).opens


def test_calls_stay_within_the_platforms_rates_and_spread_in_time(
    day: tuple[Day, list[SimCalendar], dict[str, SimCalendar]],
) -> None:
    sim, idle, _busy = day
    calendar_api = [(at, cal, kind) for at, cal, kind in sim.call_times if kind in CALENDAR_API_KINDS]
    # Scaled to 100,000 calendars, of which one in six has a meeting at 10:00 (as the 2,000 here).
    by_minute = per_window([at for at, _cal, _kind in calendar_api], timedelta(minutes=1))
    assert max(by_minute.values()) * 100_000 / len(sim.calendars) <= GOOGLE_PROJECT_PER_MINUTE
    # No top-of-hour bursts at rest: the busiest ten minutes of idle calendars' calls are near the mean.
    idle_ids = {c.row.id for c in idle}
    idle_by_window = per_window([at for at, cal, _kind in calendar_api if cal in idle_ids], timedelta(minutes=10))
    assert max(idle_by_window.values()) <= 1.5 * sum(idle_by_window.values()) / (24 * 6)
    per_calendar_minute = Counter((cal, int((at - START) / timedelta(minutes=1))) for at, cal, _kind in calendar_api)
    assert max(per_calendar_minute.values()) <= GOOGLE_USER_PER_MINUTE
    per_mailbox = Counter((cal, int((at - START) / timedelta(minutes=10))) for at, cal, _kind in sim.call_times)
    assert max(per_mailbox.values()) <= GRAPH_MAILBOX_PER_10_MINUTES


def test_calendars_synced_together_spread_their_next_checks(settings: Settings) -> None:
    """10,000 calendars caught up at one instant (or one meeting at 10:00 on all of them): their next checks
    spread evenly over the safety-net interval (or the meeting's check window)."""
    keys = [f"cal_{index:06d}" for index in range(10_000)]
    interval = schedule.interval_for(settings, push_healthy=True)
    dues = [schedule.periodic_check(START, key, interval) for key in keys]
    assert min(dues) > START + interval / 2 and max(dues) <= START + interval
    minutes = Counter(int((due - START) / timedelta(minutes=1)) for due in dues)
    assert max(minutes.values()) <= 2 * len(keys) / (interval / 2 / timedelta(minutes=1))
    meeting = START + timedelta(hours=10)
    window = schedule.meeting_window(meeting, settings)
    checks = [schedule.meeting_check(meeting, key, START, settings) for key in keys]
    assert all(window.opens <= at <= window.closes for at in checks)
    minutes = Counter(int((at - window.opens) / timedelta(minutes=1)) for at in checks)
    assert max(minutes.values()) <= 1.5 * len(keys) / ((window.closes - window.opens) / timedelta(minutes=1))


def test_inside_a_meeting_window_only_a_token_refreshed_since_it_opened_is_reused() -> None:
    box = cast(SecretBox, PlainBox())
    opens = START + timedelta(hours=10)
    row = Calendar(meeting_check_opens_at=opens, encrypted_access_token=None, access_token_expires_at=None)
    tokens.store_grant(box, row, TokenGrant("early", opens + timedelta(minutes=30)), opens - timedelta(minutes=30))
    assert tokens.cached_access_token(box, row, opens - timedelta(minutes=1)) == "early"
    assert tokens.cached_access_token(box, row, opens + timedelta(minutes=1)) is None
    tokens.store_grant(box, row, TokenGrant("fresh", opens + timedelta(hours=1)), opens + timedelta(minutes=1))
    assert tokens.cached_access_token(box, row, opens + timedelta(minutes=2)) == "fresh"
    # A refresh whose time is not known (the platform-calendars API) proves nothing: the older time stays.
    tokens.store_grant(box, row, TokenGrant("unknown", opens + timedelta(hours=1)))
    assert row.access_token_refreshed_at == opens + timedelta(minutes=1)


def test_the_meeting_check_window_must_be_open() -> None:
    with pytest.raises(ValueError, match="meeting_check_slack_seconds"):
        Settings(meeting_check_window_seconds=60, meeting_check_slack_seconds=60)
