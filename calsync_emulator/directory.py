"""Accounts and their calendars: creation, lookup, deletion, and the memory bound of seeded calendars."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING

from calsync_emulator import ids
from calsync_emulator.model import Account, Calendar, Platform
from calsync_emulator.timeutil import find_zone
from calsync_emulator.world_errors import Conflict, NotFound

if TYPE_CHECKING:
    from calsync_emulator.state import EmulatorState

GOOGLE_SCOPES = ("https://www.googleapis.com/auth/calendar.readonly",)
MICROSOFT_SCOPES = (
    "offline_access",
    "https://graph.microsoft.com/Calendars.Read",
    "https://graph.microsoft.com/User.Read",
)


@dataclasses.dataclass(slots=True)
class CalendarSpec:
    name: str
    time_zone: str | None = None
    id: str | None = None


class Directory:
    def __init__(self, state: EmulatorState) -> None:
        self._state = state
        self.accounts: dict[str, Account] = {}
        self.calendars: dict[str, Calendar] = {}
        self.account_by_email: dict[tuple[Platform, str], str] = {}
        self.seed_cache: OrderedDict[str, Calendar] = OrderedDict()

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
        grants = self._state.grants
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
        known_secret = grants.clients.get((platform, client_id))
        if known_secret is not None and known_secret != client_secret:
            raise Conflict(f"OAuth client {client_id} exists with another secret")
        refresh_token = refresh_token or ids.refresh_token(platform)
        if refresh_token in grants.refresh_tokens:
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
        grants.clients[(platform, client_id)] = client_secret
        self.accounts[account_id] = account
        self.account_by_email[(platform, email)] = account_id
        grants.add_refresh_token(account, refresh_token)
        # Google's primary calendar id is the account's email address
        primary_id = primary_calendar_id or (email if platform is Platform.GOOGLE else None)
        primary_name = email if platform is Platform.GOOGLE else "Calendar"
        self.add_calendar(account, CalendarSpec(name=primary_name, time_zone=time_zone, id=primary_id), primary=True)
        for spec in calendars:
            self.add_calendar(account, spec)
        return account

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

    def platform_of(self, cal: Calendar) -> Platform:
        return self.accounts[cal.account_id].platform

    def _touch_seeded(self, cal: Calendar) -> None:
        """Generate a seeded calendar's events on demand and keep at most `seed_cache_calendars`
        untouched ones in memory (least recently used go first); changed ones are kept for good."""
        cal.materialize()
        if cal.seq != 0:
            self.seed_cache.pop(cal.id, None)
            return
        self.seed_cache[cal.id] = cal
        self.seed_cache.move_to_end(cal.id)
        while len(self.seed_cache) > max(1, self._state.config.seed_cache_calendars):
            _, oldest = self.seed_cache.popitem(last=False)
            if oldest.seq == 0:
                oldest.drop_seeded()

    def delete_calendar(self, cal: Calendar) -> None:
        """The calendar disappears: 404 on every route, its channels stop and its subscriptions go."""
        account = self.accounts[cal.account_id]
        if cal.primary:
            raise ValueError("the primary calendar cannot be deleted")
        del account.calendars[cal.id]
        del self.calendars[cal.id]
        self.seed_cache.pop(cal.id, None)
        self._state.push.forget_calendar(cal.id)
