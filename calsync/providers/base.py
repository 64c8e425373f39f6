"""The one interface every platform client implements, and the values that cross it.

The sync engine only ever sees these types: it never parses a platform's JSON itself.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from calsync.providers.one_step_init import one_step_init


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str
    refresh_token: str


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    expires_at: datetime
    # Microsoft rotates the refresh token on every refresh; Google never does (None).
    refresh_token: str | None = None


@one_step_init
@dataclass(frozen=True)
class Attendee:
    email: str | None
    name: str | None
    response_status: str | None  # accepted | declined | tentative | needs_action | None
    is_organizer: bool = False
    is_self: bool = False


@one_step_init
@dataclass(frozen=True)
class NormalizedEvent:
    """One event instance (recurrences are always expanded), in platform-neutral form.

    Times are timezone-aware UTC. For all-day events `start_time`/`end_time` are midnight UTC of the
    event's calendar dates (end exclusive) and `is_all_day` is true, so dates never shift.
    """

    platform_uuid: str
    is_deleted: bool
    start_time: datetime | None = None
    end_time: datetime | None = None
    is_all_day: bool = False
    time_zone: str | None = None
    name: str | None = None
    status: str | None = None  # confirmed | tentative | cancelled
    location: str | None = None
    organizer: dict[str, Any] | None = None  # {"email", "name"}
    # The calendar's owner (the signed-in user) organizes the event: its owner can be learned from `organizer`.
    organizer_is_owner: bool = False
    attendees: list[Attendee] = field(default_factory=list)
    ical_uid: str | None = None
    recurring_event_id: str | None = None
    html_link: str | None = None
    meeting_url: str | None = None
    meeting_platform: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChangePage:
    """One page of a listing. `events` holds live and cancelled events; `removed_ids` holds ids the platform
    reports gone without a body (Graph `@removed`). `cursor` is set only on the last page: the Google
    `nextSyncToken` or the Graph `@odata.deltaLink` to resume from."""

    events: list[NormalizedEvent]
    removed_ids: list[str] = field(default_factory=list)
    cursor: str | None = None


@dataclass(frozen=True)
class PlatformCalendar:
    id: str
    name: str | None
    is_primary: bool
    time_zone: str | None = None
    can_edit: bool | None = None


@dataclass(frozen=True)
class PushChannel:
    """A Google watch channel or a Graph subscription."""

    id: str  # Google channel id we chose / Graph subscription id
    resource_id: str | None  # Google's X-Goog-Resource-ID; None for Graph
    expires_at: datetime
    token: str  # what the platform echoes back (channel token / clientState)


class ErrorKind(enum.StrEnum):
    """Failure classes, each with exactly one action in the sync engine (see docs/sync.md)."""

    GRANT_REVOKED = "grant_revoked"  # user revoked / needs interaction -> disconnected
    APP_CREDENTIALS = "app_credentials_invalid"  # client id/secret wrong -> disconnected (PATCH fixes)
    SCOPE_MISSING = "scope_missing"  # grant lacks calendar scope -> disconnected
    CALENDAR_GONE = "calendar_not_found"  # platform_uuid wrong or calendar deleted -> disconnected
    MAILBOX_UNAVAILABLE = "mailbox_unavailable"  # no Exchange Online mailbox -> disconnected
    THROTTLED = "throttled"  # 429 / 403 rate limit -> wait Retry-After, slow the OAuth client
    SYNC_TOKEN_EXPIRED = "sync_token_expired"  # 410 -> full list and reconcile
    TRANSIENT = "transient"  # 5xx, timeouts, connection errors -> retry with backoff
    NOT_FOUND = "not_found"  # a single item (event, channel) is gone
    INVALID_REQUEST = "invalid_request"  # a bug on our side or unexpected platform reply -> retry slowly, visible


DISCONNECTING_KINDS = frozenset(
    {
        ErrorKind.GRANT_REVOKED,
        ErrorKind.APP_CREDENTIALS,
        ErrorKind.SCOPE_MISSING,
        ErrorKind.CALENDAR_GONE,
        ErrorKind.MAILBOX_UNAVAILABLE,
    }
)


class ProviderError(Exception):
    """A classified platform failure. `code` is the platform's own machine-readable reason where it has one
    (e.g. `invalid_grant`, `AADSTS70000`, `rateLimitExceeded`); `message` is safe to show and log (no secrets)."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.code = code
        self.status = status
        self.retry_after = retry_after

    @property
    def disconnects(self) -> bool:
        return self.kind in DISCONNECTING_KINDS

    def __repr__(self) -> str:
        return f"ProviderError({self.kind.value}, code={self.code!r}, status={self.status}, {self.message!r})"


class CalendarProvider(Protocol):
    """One platform. Every method makes real HTTP calls with timeouts and raises only `ProviderError`."""

    platform: str

    async def refresh_access_token(self, credentials: Credentials) -> TokenGrant: ...

    def list_changes(
        self,
        access_token: str,
        calendar_id: str | None,
        *,
        window_start: datetime,
        window_end: datetime,
        cursor: str | None,
    ) -> AsyncIterator[ChangePage]:
        """Full windowed listing when `cursor` is None, else incremental changes since `cursor`.
        Raises `ProviderError(SYNC_TOKEN_EXPIRED)` when the cursor is no longer valid."""
        ...

    async def get_event(self, access_token: str, calendar_id: str | None, event_id: str) -> NormalizedEvent | None:
        """One event, or None when the platform says it does not exist."""
        ...

    async def list_calendars(self, access_token: str) -> list[PlatformCalendar]: ...

    async def calendar_owner(self, access_token: str, calendar_id: str | None) -> str | None:
        """The email address of the calendar's owner, when the platform says it without listing events (None:
        learn it from the events' `self` attendee or `organizer_is_owner`, calsync.meetings.owner)."""
        ...

    async def open_channel(
        self,
        access_token: str,
        calendar_id: str | None,
        *,
        address: str,
        lifecycle_address: str | None,
        token: str,
        expires_at: datetime,
    ) -> PushChannel: ...

    async def renew_channel(self, access_token: str, channel: PushChannel, expires_at: datetime) -> PushChannel | None:
        """Graph extends a subscription by PATCH and returns it. Google channels cannot be extended: this
        returns None, and the caller opens a replacement and then closes the old channel."""
        ...

    async def close_channel(self, access_token: str, channel: PushChannel) -> None:
        """Stop a channel; a channel that is already gone is not an error."""
        ...

    async def aclose(self) -> None: ...


class WithoutPush:
    """The channel methods of a platform that has no push notifications (CalDAV, ICS): the engine never opens a
    channel for it (calsync.providers.registry.PUSH_PLATFORMS), and if asked anyway it says so."""

    no_push_message = "This platform has no push notifications"

    async def open_channel(
        self,
        access_token: str,
        calendar_id: str | None,
        *,
        address: str,
        lifecycle_address: str | None,
        token: str,
        expires_at: datetime,
    ) -> PushChannel:
        raise ProviderError(ErrorKind.INVALID_REQUEST, self.no_push_message, code="push_unsupported")

    async def renew_channel(self, access_token: str, channel: PushChannel, expires_at: datetime) -> PushChannel | None:
        return None

    async def close_channel(self, access_token: str, channel: PushChannel) -> None:
        return None
