"""EmulatorState: the whole emulated world and every way to change it.

Routes read it; the control API and seeding change it through the methods here, which keep the
indexes and the per-calendar change logs right and tell listeners (push notifications) what changed.
Everything runs on the server's event loop thread, so there is no locking.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from calsync.emulator import ids, recurrence
from calsync.emulator.clock import Clock, system_clock
from calsync.emulator.config import EmulatorConfig
from calsync.emulator.faults import FaultInjector
from calsync.emulator.metrics import RequestMetrics
from calsync.emulator.model import (
    AccessToken,
    Account,
    Attendee,
    Calendar,
    Event,
    EventKind,
    GoogleChannel,
    GraphSubscription,
    Platform,
)
from calsync.emulator.timeutil import TimeValue, duration, find_zone

GOOGLE_SCOPES = ("https://www.googleapis.com/auth/calendar.readonly",)
MICROSOFT_SCOPES = (
    "offline_access",
    "https://graph.microsoft.com/Calendars.Read",
    "https://graph.microsoft.com/User.Read",
)

# (calendar, [(event id, change type created|updated|deleted)]) -> None
ChangeListener = Callable[[Calendar, list[tuple[str, str]]], None]

EVENT_FIELDS = frozenset(
    {
        "summary",
        "description",
        "location",
        "status",
        "attendees",
        "organizer_email",
        "organizer_name",
        "meeting_url",
        "show_as",
        "ical_uid",
    }
)


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    pass


@dataclasses.dataclass(slots=True)
class CalendarSpec:
    name: str
    time_zone: str | None = None
    id: str | None = None


class EmulatorState:
    def __init__(self, clock: Clock = system_clock, config: EmulatorConfig | None = None, seed: int = 0) -> None:
        self._clock = clock
        self._offset = timedelta(0)
        self._seed = seed
        self.listeners: list[ChangeListener] = []
        self.config = config or EmulatorConfig()
        self._init_world()

    def _init_world(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.calendars: dict[str, Calendar] = {}
        self.account_by_email: dict[tuple[Platform, str], str] = {}
        self.clients: dict[tuple[Platform, str], str] = {}  # (platform, client id) -> secret
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> account id
        self.access_tokens: dict[str, AccessToken] = {}
        self.channels: dict[str, GoogleChannel] = {}
        self.subscriptions: dict[str, GraphSubscription] = {}
        self._channels_by_calendar: dict[str, dict[str, GoogleChannel]] = {}
        self._subscriptions_by_calendar: dict[str, dict[str, GraphSubscription]] = {}
        self.seed_cache: OrderedDict[str, Calendar] = OrderedDict()
        self.faults = FaultInjector(self._seed)
        self.metrics = RequestMetrics(self.config.request_log_size)

    def reset(self) -> None:
        """Forget every account, token, channel, fault and counter, and return to the configured defaults."""
        self.config = EmulatorConfig()
        self._offset = timedelta(0)
        self._init_world()

    # --- time -------------------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self._clock() + self._offset

    def advance(self, seconds: float) -> datetime:
        """Move emulated time forward (token, channel and subscription expiry follow it)."""
        self._offset += timedelta(seconds=seconds)
        return self.now()

    def horizon(self) -> datetime:
        return self.now() + timedelta(days=self.config.recurrence_horizon_days)

    # --- accounts and credentials -----------------------------------------------------------------------

    def create_account(
        self,
        platform: Platform,
        *,
        email: str | None = None,
        display_name: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        refresh_token: str | None = None,
        time_zone: str = "UTC",
        calendars: Iterable[CalendarSpec] = (),
        account_id: str | None = None,
        user_id: str | None = None,
        primary_calendar_id: str | None = None,
    ) -> Account:
        if find_zone(time_zone) is None:
            raise ValueError(f"unknown time zone {time_zone!r}")
        account_id = account_id or f"acc_{ids.short_id()}"
        if account_id in self.accounts:
            raise Conflict(f"account {account_id} exists")
        email = email or f"{account_id}@{'gmail.com' if platform is Platform.GOOGLE else 'contoso.onmicrosoft.com'}"
        if (platform, email) in self.account_by_email:
            raise Conflict(f"{platform.value} account {email} exists")
        client_id = client_id or (
            f"{ids.short_id()}.apps.googleusercontent.com" if platform is Platform.GOOGLE else ids.user_id(platform)
        )
        client_secret = client_secret or ids.short_id()
        known_secret = self.clients.get((platform, client_id))
        if known_secret is not None and known_secret != client_secret:
            raise Conflict(f"OAuth client {client_id} exists with another secret")
        refresh_token = refresh_token or ids.refresh_token(platform)
        if refresh_token in self.refresh_tokens:
            raise Conflict("refresh token already issued")
        account = Account(
            id=account_id,
            platform=platform,
            email=email,
            display_name=display_name or email.split("@")[0],
            client_id=client_id,
            client_secret=client_secret,
            user_id=user_id or ids.user_id(platform),
            time_zone=time_zone,
            scopes=GOOGLE_SCOPES if platform is Platform.GOOGLE else MICROSOFT_SCOPES,
        )
        self.clients[(platform, client_id)] = client_secret
        self.accounts[account_id] = account
        self.account_by_email[(platform, email)] = account_id
        self.add_refresh_token(account, refresh_token)
        # Google's primary calendar id is the account's email address
        primary_id = primary_calendar_id or (email if platform is Platform.GOOGLE else None)
        primary_name = email if platform is Platform.GOOGLE else "Calendar"
        self.add_calendar(account, CalendarSpec(name=primary_name, time_zone=time_zone, id=primary_id), primary=True)
        for spec in calendars:
            self.add_calendar(account, spec)
        return account

    def add_refresh_token(self, account: Account, token: str) -> None:
        account.refresh_tokens.add(token)
        account.refresh_token = token
        self.refresh_tokens[token] = account.id

    def add_calendar(self, account: Account, spec: CalendarSpec, *, primary: bool = False) -> Calendar:
        tz = spec.time_zone or account.time_zone
        if find_zone(tz) is None:
            raise ValueError(f"unknown time zone {tz!r}")
        cal_id = spec.id or ids.calendar_id(account.platform)
        if cal_id in self.calendars:
            raise Conflict(f"calendar {cal_id} exists")
        cal = Calendar(id=cal_id, account_id=account.id, name=spec.name, time_zone=tz, primary=primary)
        if primary:
            account.primary_calendar_id = cal_id
        self.calendars[cal_id] = cal
        account.calendars[cal_id] = cal
        return cal

    def account(self, account_id: str) -> Account:
        try:
            return self.accounts[account_id]
        except KeyError:
            raise NotFound(f"account {account_id}") from None

    def calendar(self, calendar_id: str, *, events: bool = True) -> Calendar:
        """A calendar; `events=False` when only its change log is read (incremental syncs): a never-changed
        seeded calendar then need not be generated, since its log is empty."""
        cal = self.calendars.get(calendar_id)
        if cal is None:
            raise NotFound(f"calendar {calendar_id}")
        if cal.seed is not None and (events or cal.seq != 0):
            self._touch_seeded(cal)
        return cal

    def _touch_seeded(self, cal: Calendar) -> None:
        """Generate a seeded calendar's events on demand and keep at most `seed_cache_calendars`
        untouched ones in memory (least recently used go first); changed ones are kept for good."""
        cal.materialize()
        if cal.seq != 0:
            self.seed_cache.pop(cal.id, None)
            return
        self.seed_cache[cal.id] = cal
        self.seed_cache.move_to_end(cal.id)
        while len(self.seed_cache) > max(1, self.config.seed_cache_calendars):
            _, oldest = self.seed_cache.popitem(last=False)
            if oldest.seq == 0:
                oldest.drop_seeded()

    def issue_access_token(self, account: Account, client_id: str) -> tuple[str, int]:
        token = ids.access_token(account.platform)
        lifetime = self.config.access_token_lifetime_seconds
        self.access_tokens[token] = AccessToken(account.id, client_id, self.now() + timedelta(seconds=lifetime))
        return token, lifetime

    def resolve_access_token(self, authorization: str | None) -> tuple[Account | None, str | None]:
        """(account, None) for a live bearer token, else (account-or-None, problem) where problem is
        `missing`, `invalid` or `expired`. The account is returned for expired tokens so faults and
        request counters can still be attributed."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return None, "missing"
        token = self.access_tokens.get(authorization[7:].strip())
        if token is None:
            return None, "invalid"
        account = self.accounts.get(token.account_id)
        if account is None:
            return None, "invalid"
        if token.expires_at <= self.now():
            return account, "expired"
        return account, None

    def client_of(self, authorization: str) -> str:
        """The OAuth client id behind an already-authenticated bearer token."""
        return self.access_tokens[authorization[7:].strip()].client_id

    def expire_access_tokens(self, account: Account) -> int:
        """Make every access token of the account expired now (they then get 401)."""
        count = 0
        past = self.now() - timedelta(seconds=1)
        for token in self.access_tokens.values():
            if token.account_id == account.id:
                token.expires_at = past
                count += 1
        return count

    def revoke_grant(self, account: Account, reason: str, *, keep_access_tokens: bool = False) -> None:
        """Kill the grant: refreshes fail with the platform's error for `reason` (see oauth.py)."""
        account.grant_error = reason
        if not keep_access_tokens:
            for token, value in list(self.access_tokens.items()):
                if value.account_id == account.id:
                    del self.access_tokens[token]

    def restore_grant(self, account: Account) -> str:
        """A fresh consent: clears the grant error and issues a new refresh token."""
        account.grant_error = None
        token = ids.refresh_token(account.platform)
        self.add_refresh_token(account, token)
        return token

    def sync_state_stamp(self, cal: Calendar) -> dict[str, Any]:
        """What a sync token / delta link records to be checked later: calendar, epoch, issue time."""
        return {"c": cal.id, "e": cal.epoch, "at": int(self.now().timestamp())}

    def sync_state_valid(self, cal: Calendar, payload: dict[str, Any] | None) -> bool:
        if payload is None or payload.get("c") != cal.id or payload.get("e") != cal.epoch:
            return False
        ttl = self.config.sync_token_ttl_seconds
        return ttl <= 0 or self.now().timestamp() - float(payload.get("at", 0)) <= ttl

    def delete_calendar(self, cal: Calendar) -> None:
        """The calendar disappears: 404 on every route, its channels stop and its subscriptions go."""
        account = self.accounts[cal.account_id]
        if cal.primary:
            raise ValueError("the primary calendar cannot be deleted")
        del account.calendars[cal.id]
        del self.calendars[cal.id]
        self.seed_cache.pop(cal.id, None)
        for channel in self._channels_by_calendar.pop(cal.id, {}).values():
            channel.stopped = True
        for sub in list(self._subscriptions_by_calendar.get(cal.id, {}).values()):
            self.remove_subscription(sub)

    def invalidate_sync_state(self, account: Account, calendar_id: str | None = None) -> None:
        """Every sync token / delta link issued so far for these calendars now gets 410."""
        for cal in account.calendars.values():
            if calendar_id is None or cal.id == calendar_id:
                cal.epoch += 1

    # --- events ---------------------------------------------------------------------------------------------

    def _record(self, cal: Calendar, event: Event, changes: list[tuple[str, str]], change: str) -> None:
        cal.seq += 1
        event.seq = cal.seq
        cal.log.append((cal.seq, event.id))
        if event.kind is not EventKind.GONE:
            changes.append((event.id, change))

    def _emit(self, cal: Calendar, changes: list[tuple[str, str]]) -> None:
        if changes:
            for listener in self.listeners:
                listener(cal, changes)

    def _platform(self, cal: Calendar) -> Platform:
        return self.accounts[cal.account_id].platform

    def create_event(
        self,
        cal: Calendar,
        start: TimeValue,
        end: TimeValue,
        *,
        time_zone: str | None = None,
        recurrence_lines: Iterable[str] = (),
        event_id: str | None = None,
        fields: dict[str, Any] | None = None,
        notify: bool = True,
    ) -> Event:
        now = self.now()
        event = self._new_event(cal, start, end, time_zone, tuple(recurrence_lines), event_id, now)
        _apply_fields(event, fields or {})
        changes: list[tuple[str, str]] = []
        cal.events[event.id] = event
        self._record(cal, event, changes, "created")
        cal.index(event)
        if notify:
            self._emit(cal, changes)
        return event

    def _new_event(
        self,
        cal: Calendar,
        start: TimeValue,
        end: TimeValue,
        time_zone: str | None,
        lines: tuple[str, ...],
        event_id: str | None,
        now: datetime,
    ) -> Event:
        tz = time_zone or cal.time_zone
        if find_zone(tz) is None:
            raise ValueError(f"unknown time zone {tz!r}")
        if duration(start, end).total_seconds() <= 0:
            raise ValueError("end must be after start")
        event_id = event_id or ids.event_id(self._platform(cal))
        existing = cal.events.get(event_id)
        if existing is not None and not (existing.deleted and existing.kind is EventKind.SINGLE):
            raise Conflict(f"event {event_id} exists")
        event = Event(
            id=event_id,
            calendar_id=cal.id,
            kind=EventKind.MASTER if lines else EventKind.SINGLE,
            start=start,
            end=end,
            time_zone=tz,
            created=now,
            updated=now,
            recurrence=lines,
            organizer_email=self.accounts[cal.account_id].email,
        )
        if lines:
            recurrence.validate(event)
        return event

    def find_event(self, cal: Calendar, event_id: str) -> Event:
        event = cal.events.get(event_id)
        if event is None:
            raise NotFound(f"event {event_id}")
        return event

    def _override_for(self, cal: Calendar, instance_id: str, now: datetime) -> Event | None:
        """Materialize a generated instance as an override (an exception) so it can be changed alone."""
        parts = recurrence.split_instance_id(instance_id)
        if parts is None:
            return None
        master = cal.masters.get(parts[0])
        if master is None:
            return None
        starts, _ = recurrence.starts(master, self.horizon())
        for start in starts:
            if recurrence.instance_id(master.id, start) == instance_id:
                inst = recurrence.make_instance(master, start)
                return dataclasses.replace(
                    master,
                    id=instance_id,
                    kind=EventKind.OVERRIDE,
                    start=inst.start,
                    end=inst.end,
                    recurrence=(),
                    master_id=master.id,
                    original_start=start,
                    created=now,
                    expansion=None,
                )
        return None

    def _target(self, cal: Calendar, event_id: str, now: datetime) -> tuple[Event, bool]:
        """(event, is_new_override) for a stored event or a generated instance id."""
        event = cal.events.get(event_id)
        if event is not None and event.kind is not EventKind.GONE:
            return event, False
        override = self._override_for(cal, event_id, now)
        if override is None:
            raise NotFound(f"event {event_id}")
        return override, True

    def update_event(self, cal: Calendar, event_id: str, changes_in: dict[str, Any]) -> Event:
        """Change a single event, a whole series (its master) or one instance (becomes an exception)."""
        now = self.now()
        event, is_new = self._target(cal, event_id, now)
        if event.deleted:
            raise NotFound(f"event {event_id} is deleted")
        changes: list[tuple[str, str]] = []
        old_instances = self._instance_map(event) if event.kind is EventKind.MASTER else {}
        if "recurrence" in changes_in and event.kind is not EventKind.MASTER:
            raise ValueError("recurrence can only be changed on a series master")
        if "time_zone" in changes_in and find_zone(changes_in["time_zone"]) is None:
            raise ValueError(f"unknown time zone {changes_in['time_zone']!r}")
        if not is_new:
            cal.unindex(event)
        before = (event.start, event.end, event.recurrence)
        for name in ("start", "end", "time_zone"):
            if name in changes_in:
                setattr(event, name, changes_in[name])
        if "recurrence" in changes_in:
            event.recurrence = tuple(changes_in["recurrence"])
        _apply_fields(event, {k: v for k, v in changes_in.items() if k in EVENT_FIELDS})
        try:
            if duration(event.start, event.end).total_seconds() <= 0:
                raise ValueError("end must be after start")
            if event.kind is EventKind.MASTER:
                event.expansion = None
                recurrence.validate(event)
        except ValueError:
            event.start, event.end, event.recurrence = before
            if not is_new:
                cal.index(event)
            raise
        if (event.start, event.end, event.recurrence) != before:
            event.sequence += 1
        event.updated = now
        if is_new:
            cal.events[event.id] = event
        self._record(cal, event, changes, "updated")
        cal.index(event)
        if event.kind is EventKind.MASTER:
            self._tombstone_vanished(cal, event, old_instances, changes, now)
        self._emit(cal, changes)
        return event

    def _instance_map(self, master: Event) -> dict[str, TimeValue]:
        starts, _ = recurrence.starts(master, self.horizon())
        return {recurrence.instance_id(master.id, s): s for s in starts}

    def _tombstone_vanished(
        self, cal: Calendar, master: Event, old: dict[str, TimeValue], changes: list[tuple[str, str]], now: datetime
    ) -> None:
        """Instances a series no longer has get a GONE record, so incremental syncs report them removed."""
        new = self._instance_map(master) if not master.deleted else {}
        for instance_id in new:
            stale = cal.events.get(instance_id)
            if stale is not None and stale.kind is EventKind.GONE:
                del cal.events[instance_id]  # the instance is back; its old log entries no longer match
        for instance_id, start in old.items():
            if instance_id in new or instance_id in cal.events:
                continue
            gone = Event(
                id=instance_id,
                calendar_id=cal.id,
                kind=EventKind.GONE,
                start=start,
                end=start,
                time_zone=master.time_zone,
                created=now,
                updated=now,
                deleted=True,
                master_id=master.id,
                original_start=start,
            )
            cal.events[instance_id] = gone
            self._record(cal, gone, changes, "deleted")

    def cancel_event(self, cal: Calendar, event_id: str) -> Event:
        """Google: a cancellation is a deletion (status cancelled). Microsoft: the event lingers with
        isCancelled=true, except a single occurrence, which Outlook removes from its series."""
        if self._platform(cal) is Platform.GOOGLE:
            return self.delete_event(cal, event_id)
        now = self.now()
        event, is_new = self._target(cal, event_id, now)
        if is_new:
            return self.delete_event(cal, event_id)
        if event.deleted:
            raise NotFound(f"event {event_id} is deleted")
        changes: list[tuple[str, str]] = []
        event.ms_cancelled = True
        event.updated = now
        self._record(cal, event, changes, "updated")
        self._emit(cal, changes)
        return event

    def restore_event(self, cal: Calendar, event_id: str) -> Event:
        """Undo the deletion or cancellation of a single event (Google restores it from the bin with its id;
        Outlook re-sends a cancelled meeting): it is live again, reported as updated."""
        event = cal.events.get(event_id)
        if event is None or event.kind is not EventKind.SINGLE:
            raise NotFound(f"event {event_id} (only single events can be restored)")
        if not event.deleted and not event.ms_cancelled:
            raise ValueError(f"event {event_id} is neither deleted nor cancelled")
        changes: list[tuple[str, str]] = []
        event.deleted = False
        event.ms_cancelled = False
        event.updated = self.now()
        cal.index(event)
        self._record(cal, event, changes, "updated")
        self._emit(cal, changes)
        return event

    def delete_event(self, cal: Calendar, event_id: str) -> Event:
        now = self.now()
        event, is_new = self._target(cal, event_id, now)
        if event.deleted:
            raise NotFound(f"event {event_id} is deleted")
        changes: list[tuple[str, str]] = []
        old_instances = self._instance_map(event) if event.kind is EventKind.MASTER else {}
        if not is_new:
            cal.unindex(event)
        event.deleted = True
        event.updated = now
        if is_new:
            cal.events[event.id] = event
        self._record(cal, event, changes, "deleted")
        if event.kind is EventKind.MASTER:
            for other in list(cal.events.values()):
                if other.kind is EventKind.OVERRIDE and other.master_id == event.id and not other.deleted:
                    cal.unindex(other)
                    other.deleted = True
                    other.updated = now
                    self._record(cal, other, changes, "deleted")
            self._tombstone_vanished(cal, event, old_instances, changes, now)
        self._emit(cal, changes)
        return event

    def move_event(self, cal: Calendar, event_id: str, target: Calendar) -> Event:
        """Move a single event or a whole series to another calendar of the same account. Google keeps
        the id; Graph ids change when an item moves."""
        if target.account_id != cal.account_id or target.id == cal.id:
            raise ValueError("target must be another calendar of the same account")
        event = cal.events.get(event_id)
        if event is None or event.deleted or event.kind not in (EventKind.SINGLE, EventKind.MASTER):
            raise NotFound(f"event {event_id}")
        keep_id = self._platform(cal) is Platform.GOOGLE
        fields = {name: getattr(event, name) for name in EVENT_FIELDS}
        moved = self.create_event(
            target,
            event.start,
            event.end,
            time_zone=event.time_zone,
            recurrence_lines=event.recurrence,
            event_id=event.id if keep_id else None,
            fields=fields,
        )
        for other in list(cal.events.values()):
            if other.kind is EventKind.OVERRIDE and other.master_id == event.id and not other.deleted:
                assert other.original_start is not None
                copy = dataclasses.replace(
                    other,
                    id=recurrence.instance_id(moved.id, other.original_start),
                    calendar_id=target.id,
                    master_id=moved.id,
                )
                target.events[copy.id] = copy
                changes: list[tuple[str, str]] = []
                self._record(target, copy, changes, "created")
                target.index(copy)
                self._emit(target, changes)
        self.delete_event(cal, event_id)
        return moved

    # --- push channels ------------------------------------------------------------------------------------

    # Indexed by calendar: every change looks up its calendar's channels, so with thousands of channels
    # a change must not scan them all.

    def add_channel(self, channel: GoogleChannel) -> None:
        old = self.channels.get(channel.id)
        if old is not None:
            self._channels_by_calendar.get(old.calendar_id, {}).pop(old.id, None)
        self.channels[channel.id] = channel
        self._channels_by_calendar.setdefault(channel.calendar_id, {})[channel.id] = channel

    def live_channels(self, calendar_id: str) -> list[GoogleChannel]:
        """Channels on a calendar that still notify; stopped and expired ones leave the index."""
        now = self.now()
        index = self._channels_by_calendar.get(calendar_id, {})
        for dead in [c.id for c in index.values() if c.stopped or c.expiration <= now]:
            del index[dead]
        return list(index.values())

    def add_subscription(self, sub: GraphSubscription) -> None:
        self.subscriptions[sub.id] = sub
        self._subscriptions_by_calendar.setdefault(sub.calendar_id, {})[sub.id] = sub

    def remove_subscription(self, sub: GraphSubscription) -> None:
        self.subscriptions.pop(sub.id, None)
        self._subscriptions_by_calendar.get(sub.calendar_id, {}).pop(sub.id, None)

    def live_subscriptions(self, cal: Calendar) -> list[GraphSubscription]:
        """Subscriptions covering a calendar; expired ones are deleted, as Graph does."""
        now = self.now()
        index = self._subscriptions_by_calendar.get(cal.id, {})
        for expired in [s for s in index.values() if s.expiration <= now]:
            self.remove_subscription(expired)
        return list(index.values())


def _apply_fields(event: Event, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        if name not in EVENT_FIELDS:
            raise ValueError(f"unknown event field {name!r}")
        if name == "attendees":
            value = tuple(a if isinstance(a, Attendee) else Attendee(**a) for a in value)
        if name == "status" and value not in ("confirmed", "tentative"):
            raise ValueError("status must be confirmed or tentative (use cancel/delete to cancel)")
        setattr(event, name, value)
