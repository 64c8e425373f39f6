"""Google Calendar API v3 client: OAuth refresh, windowed and incremental event listing, calendars, watch channels."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from calsync.clock import Clock, system_clock
from calsync.emails import email_like
from calsync.providers import google_errors as errors
from calsync.providers.base import (
    ChangePage,
    Credentials,
    ErrorKind,
    NormalizedEvent,
    PlatformCalendar,
    ProviderError,
    PushChannel,
    TokenGrant,
)
from calsync.providers.google_normalize import normalize_event
from calsync.providers.http import Classifier, as_str, expect_object, path_segment, send, token_grant, unless_not_found

PAGE_SIZE = 2500  # events.list maximum
CALENDAR_LIST_PAGE_SIZE = 250  # calendarList.list maximum
PRIMARY = "primary"
_CAN_EDIT_ROLES = frozenset({"writer", "owner"})


def rfc3339(instant: datetime) -> str:
    """`2026-03-01T09:00:00Z`: UTC, whole seconds (Google ignores milliseconds in timeMin/timeMax)."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch_ms(value: Any) -> datetime | None:
    """A channel `expiration`: int64 epoch milliseconds, which JSON may carry as a number or a string."""
    if isinstance(value, bool):
        return None
    try:
        ms = int(value)
    except (TypeError, ValueError):
        return None
    try:
        return datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


class GoogleProvider:
    """One Google Cloud OAuth client's view of Google Calendar. Stateless apart from configuration: the shared
    `httpx.AsyncClient` belongs to the caller, who closes it."""

    platform = "google"

    def __init__(
        self,
        http_client: httpx.AsyncClient,
        *,
        token_url: str,
        api_url: str,
        timeout_seconds: float,
        clock: Clock = system_clock,
    ) -> None:
        self._http = http_client
        self._token_url = token_url
        self._api_url = api_url.rstrip("/")
        self._timeout = timeout_seconds
        self._clock = clock

    # --- plumbing --------------------------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        access_token: str,
        *,
        what: str,
        classify: Classifier,
        params: Mapping[str, str] | None = None,
        json_payload: Any = None,
    ) -> httpx.Response:
        return await send(
            self._http,
            method,
            f"{self._api_url}{path}",
            what=what,
            classify=classify,
            timeout_seconds=self._timeout,
            clock=self._clock,
            secrets=(access_token,),
            params=params,
            headers={"Authorization": f"Bearer {access_token}"},
            json_payload=json_payload,
        )

    @staticmethod
    def _events_path(calendar_id: str | None) -> str:
        return f"/calendars/{path_segment(calendar_id or PRIMARY)}/events"

    # --- CalendarProvider ------------------------------------------------------------------------------------------

    async def refresh_access_token(self, credentials: Credentials) -> TokenGrant:
        secrets = (credentials.refresh_token, credentials.client_secret)
        # Expiry counts from before the request: the token may have been minted any time during the round trip.
        issued_at = self._clock()
        response = await send(
            self._http,
            "POST",
            self._token_url,
            what="token refresh",
            classify=errors.classify_oauth_error,
            timeout_seconds=self._timeout,
            clock=self._clock,
            secrets=secrets,
            form={
                "grant_type": "refresh_token",
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
                "refresh_token": credentials.refresh_token,
            },
        )
        # Google keeps the refresh token; should a reply ever carry a new one, hand it over to be stored.
        return token_grant(response, issued_at)

    async def list_changes(
        self,
        access_token: str,
        calendar_id: str | None,
        *,
        window_start: datetime,
        window_end: datetime,
        cursor: str | None,
    ) -> AsyncIterator[ChangePage]:
        # Full: every instance overlapping the window, cancelled ones included. Incremental: the sync token alone,
        # since Google rejects time bounds with it, deletions always come back, and `singleEvents` must stay as it
        # was for the full list.
        base: dict[str, str] = {"singleEvents": "true", "maxResults": str(PAGE_SIZE)}
        if cursor is None:
            base |= {"showDeleted": "true", "timeMin": rfc3339(window_start), "timeMax": rfc3339(window_end)}
        else:
            base["syncToken"] = cursor
        page_token: str | None = None
        while True:
            params = base | ({"pageToken": page_token} if page_token else {})
            response = await self._call(
                "GET",
                self._events_path(calendar_id),
                access_token,
                what="events.list",
                classify=errors.LIST_CLASSIFIER,
                params=params,
            )
            body = expect_object(response, "events.list")
            calendar_zone = as_str(body.get("timeZone"))
            items = body.get("items")
            events = [
                event
                for item in (items if isinstance(items, list) else [])
                if isinstance(item, dict) and (event := normalize_event(item, calendar_time_zone=calendar_zone))
            ]
            page_token = as_str(body.get("nextPageToken"))
            if page_token:
                # Pages can be empty and still carry a nextPageToken; yielding them keeps memory flat either way.
                yield ChangePage(events=events)
                continue
            next_sync_token = as_str(body.get("nextSyncToken"))
            if not next_sync_token:
                raise ProviderError(
                    ErrorKind.INVALID_REQUEST,
                    "events.list: the last page carries neither nextPageToken nor nextSyncToken",
                    status=response.status_code,
                )
            yield ChangePage(events=events, cursor=next_sync_token)
            return

    async def get_event(self, access_token: str, calendar_id: str | None, event_id: str) -> NormalizedEvent | None:
        response = await unless_not_found(
            self._call(
                "GET",
                f"{self._events_path(calendar_id)}/{path_segment(event_id)}",
                access_token,
                what="events.get",
                classify=errors.ITEM_CLASSIFIER,
            )
        )
        return None if response is None else normalize_event(expect_object(response, "events.get"))

    async def calendar_owner(self, access_token: str, calendar_id: str | None) -> str | None:
        # A user's own calendar has the user's email address as its id; the primary one ("primary", stored as
        # None) and shared ones tell it only through their events' `self` attendee: no call is spent on it.
        return email_like(calendar_id)

    async def list_calendars(self, access_token: str) -> list[PlatformCalendar]:
        calendars: list[PlatformCalendar] = []
        page_token: str | None = None
        while True:
            params = {"maxResults": str(CALENDAR_LIST_PAGE_SIZE)} | ({"pageToken": page_token} if page_token else {})
            response = await self._call(
                "GET",
                "/users/me/calendarList",
                access_token,
                what="calendarList.list",
                classify=errors.ACCOUNT_CLASSIFIER,
                params=params,
            )
            body = expect_object(response, "calendarList.list")
            items = body.get("items")
            for item in items if isinstance(items, list) else []:
                if not isinstance(item, dict) or not (calendar_id := as_str(item.get("id"))) or item.get("deleted"):
                    continue
                role = as_str(item.get("accessRole"))
                calendars.append(
                    PlatformCalendar(
                        id=calendar_id,
                        name=as_str(item.get("summaryOverride")) or as_str(item.get("summary")),
                        is_primary=item.get("primary") is True,
                        time_zone=as_str(item.get("timeZone")),
                        can_edit=role in _CAN_EDIT_ROLES if role else None,
                    )
                )
            page_token = as_str(body.get("nextPageToken"))
            if not page_token:
                return calendars

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
        # Google has no lifecycle notifications; `lifecycle_address` is for Graph only.
        channel_id = str(uuid.uuid4())
        ttl = max(int((expires_at - self._clock()).total_seconds()), 1)
        response = await self._call(
            "POST",
            f"{self._events_path(calendar_id)}/watch",
            access_token,
            what="events.watch",
            classify=errors.CALENDAR_CLASSIFIER,
            json_payload={
                "id": channel_id,
                "type": "web_hook",
                "address": address,
                "token": token,
                "params": {"ttl": str(ttl)},
            },
        )
        body = expect_object(response, "events.watch")
        resource_id = as_str(body.get("resourceId"))
        if not resource_id:
            raise ProviderError(
                ErrorKind.INVALID_REQUEST, "events.watch: the reply has no resourceId", status=response.status_code
            )
        return PushChannel(
            id=as_str(body.get("id")) or channel_id,
            resource_id=resource_id,
            # Google may shorten the requested lifetime; when it says nothing, assume what we asked for.
            expires_at=_epoch_ms(body.get("expiration")) or expires_at,
            token=token,
        )

    async def renew_channel(self, access_token: str, channel: PushChannel, expires_at: datetime) -> PushChannel | None:
        return None  # Google channels cannot be extended: the caller opens a replacement, then closes this one.

    async def close_channel(self, access_token: str, channel: PushChannel) -> None:
        await unless_not_found(
            self._call(
                "POST",
                "/channels/stop",
                access_token,
                what="channels.stop",
                classify=errors.ITEM_CLASSIFIER,
                json_payload={"id": channel.id, "resourceId": channel.resource_id},
            )
        )

    async def aclose(self) -> None:
        return None  # the HTTP client is shared and owned by the caller
