"""ICS feeds (a secret iCalendar address): conditional GET, an unchanged body skipped by digest, and a diff by
(UID, RECURRENCE-ID) against the instances the cursor remembers. A feed has no tombstones: an instance that
disappeared from the feed is reported removed. The feed URL is a credential: it is the `access_token`, stored
encrypted, and never appears in a message or a log line."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx

from calsync.clock import Clock, system_clock
from calsync.outbound.ssrf import Resolver, TargetPolicy, system_resolver, validate_webhook_url
from calsync.providers.base import (
    ChangePage,
    Credentials,
    ErrorKind,
    NormalizedEvent,
    PlatformCalendar,
    ProviderError,
    TokenGrant,
    WithoutPush,
)
from calsync.providers.guarded_http import Fetched, GuardedHttp
from calsync.providers.ical import expand_calendar, parse_calendar
from calsync.providers.ical.cursor import event_digest, pack, unpack

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
FEED_ID = "feed"
# A feed URL never expires by itself; the grant is re-checked yearly only so it is not "forever".
_GRANT_LIFETIME = timedelta(days=365)
# Lines that change on every request of many feeds without any event changing (generated "now" stamps).
_VOLATILE = re.compile(rb"^(DTSTAMP|LAST-MODIFIED|X-PUBLISHED-TTL|REFRESH-INTERVAL)[;:][^\r\n]*\r?\n", re.MULTILINE)
_ACCEPT = frozenset({304})


def feed_url(value: str) -> str:
    """`webcal://` and `webcals://` are subscription hints, not transports: fetched as https."""
    lowered = value.lower()
    for scheme in ("webcals://", "webcal://"):
        if lowered.startswith(scheme):
            return "https://" + value[len(scheme) :]
    return value


def body_digest(content: bytes) -> str:
    return hashlib.sha256(_VOLATILE.sub(b"", content)).hexdigest()


class IcsProvider(WithoutPush):
    """One feed per calendar. `Credentials.refresh_token` holds the feed URL (encrypted at rest)."""

    no_push_message = "ICS feeds have no push notifications"

    platform = "ics"

    def __init__(
        self,
        http_client: httpx.AsyncClient,
        *,
        timeout_seconds: float,
        policy: TargetPolicy,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_redirects: int = 5,
        resolver: Resolver = system_resolver,
        clock: Clock = system_clock,
    ) -> None:
        self.http = GuardedHttp(
            http_client,
            policy=policy,
            timeout_seconds=timeout_seconds,
            max_bytes=max_bytes,
            max_redirects=max_redirects,
            resolver=resolver,
            clock=clock,
        )
        self._policy = policy
        self._clock = clock

    async def refresh_access_token(self, credentials: Credentials) -> TokenGrant:
        """No network: the URL is checked (scheme, host, literal addresses); the first fetch tells the rest."""
        url = feed_url(credentials.refresh_token.strip())
        problem = validate_webhook_url(url, self._policy.allow_http, allow_private=self._policy.allow_private)
        if problem:
            raise ProviderError(ErrorKind.GRANT_REVOKED, f"the feed address is not usable: {problem}", code="bad_url")
        return TokenGrant(access_token=url, expires_at=self._clock() + _GRANT_LIFETIME)

    async def _get(self, url: str, headers: dict[str, str]) -> Fetched:
        headers = {"Accept": "text/calendar, */*;q=0.1", **headers}
        try:
            return await self.http.request("GET", url, what="feed fetch", headers=headers, accept=_ACCEPT)
        except ProviderError as exc:
            if exc.status in (401, 403):
                exc.message = "feed fetch: the feed address no longer grants access; publish it again and reconnect"
            elif exc.status in (404, 410):
                exc.message = "feed fetch: the feed is gone (its secret address was reset or unpublished)"
                exc.code = "feed_gone"
            exc.args = (exc.message,)
            raise

    def _expanded(
        self, fetched: Fetched, window_start: datetime, window_end: datetime
    ) -> tuple[list[NormalizedEvent], int]:
        calendar = parse_calendar(fetched.content)
        if calendar is None:
            raise ProviderError(
                ErrorKind.CALENDAR_GONE,
                "feed fetch: the address no longer serves a calendar (an HTML or login page, or garbage)",
                code="not_a_calendar",
                status=fetched.status,
            )
        expansion = expand_calendar(calendar, window_start, window_end)
        return expansion.events, expansion.skipped

    async def list_changes(
        self,
        access_token: str,
        calendar_id: str | None,
        *,
        window_start: datetime,
        window_end: datetime,
        cursor: str | None,
    ) -> AsyncIterator[ChangePage]:
        state: dict[str, Any] | None = None
        headers: dict[str, str] = {}
        if cursor is not None:
            state = unpack(cursor)
            if state is None or state.get("kind") != "ics":
                raise ProviderError(ErrorKind.SYNC_TOKEN_EXPIRED, "feed cursor unreadable", code="bad_cursor")
            if state.get("etag"):
                headers["If-None-Match"] = state["etag"]
            if state.get("last_modified"):
                headers["If-Modified-Since"] = state["last_modified"]
        fetched = await self._get(access_token, headers)
        if state is not None and fetched.status == 304:
            yield ChangePage(events=[], cursor=cursor)
            return
        if state is not None and "window" in state:
            # The window is re-based only by a full listing, as for the other platforms (calsync/sync/window.py):
            # an instance that merely left a moving window is not a removal.
            window_start, window_end = (datetime.fromisoformat(value) for value in state["window"])
        digest = body_digest(fetched.content)
        known: dict[str, str] = state.get("ids", {}) if state is not None else {}
        next_state: dict[str, Any] = {
            "kind": "ics",
            "etag": fetched.headers.get("ETag"),
            "last_modified": fetched.headers.get("Last-Modified"),
            "digest": digest,
            "ids": known,
            "window": [window_start.isoformat(), window_end.isoformat()],
        }
        if state is not None and state.get("digest") == digest:
            yield ChangePage(events=[], cursor=pack(next_state))
            return
        events, _skipped = self._expanded(fetched, window_start, window_end)
        current = {event.platform_uuid: event_digest(event) for event in events}
        next_state["ids"] = current
        if state is None:
            yield ChangePage(events=events, cursor=pack(next_state))
            return
        changed = [event for event in events if known.get(event.platform_uuid) != current[event.platform_uuid]]
        removed = [uuid for uuid in known if uuid not in current]
        yield ChangePage(events=changed, removed_ids=removed, cursor=pack(next_state))

    async def get_event(self, access_token: str, calendar_id: str | None, event_id: str) -> NormalizedEvent | None:
        """A feed has no per-event address: the whole feed is read and the instance looked up (a year either side)."""
        now = self._clock()
        fetched = await self._get(access_token, {})
        events, _ = self._expanded(fetched, now - _GRANT_LIFETIME, now + _GRANT_LIFETIME)
        return next((event for event in events if event.platform_uuid == event_id), None)

    async def list_calendars(self, access_token: str) -> list[PlatformCalendar]:
        fetched = await self._get(access_token, {})
        calendar = parse_calendar(fetched.content)
        if calendar is None:
            raise ProviderError(
                ErrorKind.CALENDAR_GONE, "feed fetch: the address does not serve a calendar", code="not_a_calendar"
            )
        name = calendar.get("X-WR-CALNAME")
        zone = calendar.get("X-WR-TIMEZONE")
        return [
            PlatformCalendar(
                id=FEED_ID,
                name=str(name) if name else None,
                is_primary=True,
                time_zone=str(zone) if zone else None,
                can_edit=False,
            )
        ]

    async def calendar_owner(self, access_token: str, calendar_id: str | None) -> str | None:
        return None

    async def aclose(self) -> None:
        return None
