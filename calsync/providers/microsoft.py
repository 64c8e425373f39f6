"""Microsoft Graph v1.0 client: identity-platform refresh (rotating refresh tokens), calendarView delta,
calendars, change-notification subscriptions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from calsync.clock import Clock, system_clock
from calsync.emails import email_like
from calsync.providers import microsoft_errors as errors
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
from calsync.providers.http import (
    Classifier,
    as_str,
    expect_object,
    path_segment,
    same_origin,
    send,
    token_grant,
    unless_not_found,
)
from calsync.providers.microsoft_normalize import normalize_event
from calsync.providers.normalize import parse_datetime

# Least privilege: read-only calendars. `offline_access` makes the token endpoint return the rotated refresh token.
# `User.Read` is not needed: every call is under /me/calendar*, /me/events and /subscriptions.
SCOPE = "offline_access https://graph.microsoft.com/Calendars.Read"
DEFAULT_PAGE_SIZE = 100
_SUBSCRIPTION_CHANGE_TYPES = "created,updated,deleted"


def graph_datetime(instant: datetime) -> str:
    """`2026-03-01T09:00:00Z`: explicit UTC, since Graph reads calendarView bounds in their own offset."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class MicrosoftProvider:
    """One Entra application's view of Outlook calendars through Graph. The shared `httpx.AsyncClient` belongs to
    the caller, who closes it."""

    platform = "microsoft"

    def __init__(
        self,
        http_client: httpx.AsyncClient,
        *,
        login_url: str,
        graph_url: str,
        timeout_seconds: float,
        page_size: int = DEFAULT_PAGE_SIZE,
        clock: Clock = system_clock,
    ) -> None:
        self._http = http_client
        self._token_url = f"{login_url.rstrip('/')}/common/oauth2/v2.0/token"
        self._graph_url = graph_url.rstrip("/")
        self._timeout = timeout_seconds
        self._page_size = page_size
        self._clock = clock

    # --- plumbing --------------------------------------------------------------------------------------------------

    def _headers(self, access_token: str, *, page_size: bool = False) -> dict[str, str]:
        # Date-times in UTC. Both preferences in one header: some servers read only the first `Prefer` line.
        prefer = 'outlook.timezone="UTC"' + (f", odata.maxpagesize={self._page_size}" if page_size else "")
        return {"Authorization": f"Bearer {access_token}", "Prefer": prefer}

    async def _call(
        self,
        method: str,
        url: str,
        access_token: str,
        *,
        what: str,
        classify: Classifier,
        params: Mapping[str, str] | None = None,
        json_payload: Any = None,
        page_size: bool = False,
    ) -> httpx.Response:
        if url.startswith("/"):
            url = f"{self._graph_url}{url}"
        elif not self._is_graph_link(url):
            # nextLink / deltaLink are followed verbatim; never send the bearer token elsewhere.
            raise ProviderError(ErrorKind.INVALID_REQUEST, f"{what}: link points outside the configured Graph URL")
        return await send(
            self._http,
            method,
            url,
            what=what,
            classify=classify,
            timeout_seconds=self._timeout,
            clock=self._clock,
            secrets=(access_token,),
            params=params,
            headers=self._headers(access_token, page_size=page_size),
            json_payload=json_payload,
        )

    def _is_graph_link(self, url: str) -> bool:
        return url.startswith(("http://", "https://")) and same_origin(url, self._graph_url)

    @staticmethod
    def _calendar_path(calendar_id: str | None) -> str:
        return f"/me/calendars/{path_segment(calendar_id)}" if calendar_id else "/me"

    # --- CalendarProvider ------------------------------------------------------------------------------------------

    async def refresh_access_token(self, credentials: Credentials) -> TokenGrant:
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
            secrets=(credentials.refresh_token, credentials.client_secret),
            form={
                "grant_type": "refresh_token",
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
                "refresh_token": credentials.refresh_token,
                "scope": SCOPE,
            },
        )
        # Rotated on every refresh: the caller must persist it (the old one keeps working for a while).
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
        # Every parameter goes into the first request only; Graph encodes them into the links it returns, which are
        # then followed verbatim (with the same Prefer headers).
        if cursor is not None and not self._is_graph_link(cursor):
            # A stored delta link we cannot follow (corrupt, or from another Graph URL, e.g. the emulator) is as
            # useless as an expired one: start over with a full delta rather than fail forever.
            raise ProviderError(
                ErrorKind.SYNC_TOKEN_EXPIRED,
                "calendarView.delta: the stored delta link is not a link of this Graph URL",
            )
        url = cursor or f"{self._graph_url}{self._calendar_path(calendar_id)}/calendarView/delta"
        params: Mapping[str, str] | None = (
            None
            if cursor
            else {"startDateTime": graph_datetime(window_start), "endDateTime": graph_datetime(window_end)}
        )
        while True:
            response = await self._call(
                "GET",
                url,
                access_token,
                what="calendarView.delta",
                classify=errors.LIST_CLASSIFIER,
                params=params,
                page_size=True,
            )
            body = expect_object(response, "calendarView.delta")
            events: list[NormalizedEvent] = []
            removed: list[str] = []
            values = body.get("value")
            for item in values if isinstance(values, list) else []:
                if not isinstance(item, dict):
                    continue
                if "@removed" in item:
                    if event_id := as_str(item.get("id")):
                        removed.append(event_id)
                elif event := normalize_event(item):
                    events.append(event)
            next_link = as_str(body.get("@odata.nextLink"))
            if next_link:
                yield ChangePage(events=events, removed_ids=removed)
                url, params = next_link, None
                continue
            delta_link = as_str(body.get("@odata.deltaLink"))
            if not delta_link:
                raise ProviderError(
                    ErrorKind.INVALID_REQUEST,
                    "calendarView.delta: the last page carries neither @odata.nextLink nor @odata.deltaLink",
                    status=response.status_code,
                )
            yield ChangePage(events=events, removed_ids=removed, cursor=delta_link)
            return

    async def get_event(self, access_token: str, calendar_id: str | None, event_id: str) -> NormalizedEvent | None:
        response = await unless_not_found(
            self._call(
                "GET",
                f"{self._calendar_path(calendar_id)}/events/{path_segment(event_id)}",
                access_token,
                what="events.get",
                classify=errors.ITEM_CLASSIFIER,
            )
        )
        return None if response is None else normalize_event(expect_object(response, "events.get"))

    async def calendar_owner(self, access_token: str, calendar_id: str | None) -> str | None:
        """The calendar's `owner.address`: for the user's own calendars /me's mail, read with the Calendars scope
        alone (/me itself would need User.Read, which calsync does not ask for)."""
        path = f"/me/calendars/{path_segment(calendar_id)}" if calendar_id else "/me/calendar"
        response = await self._call(
            "GET",
            path,
            access_token,
            what="calendars.get",
            classify=errors.CALENDAR_CLASSIFIER,
            params={"$select": "id,owner"},
        )
        owner = expect_object(response, "calendars.get").get("owner")
        return email_like(as_str(owner.get("address"))) if isinstance(owner, dict) else None

    async def list_calendars(self, access_token: str) -> list[PlatformCalendar]:
        calendars: list[PlatformCalendar] = []
        url = "/me/calendars"
        params: Mapping[str, str] | None = {"$select": "id,name,isDefaultCalendar,canEdit"}
        while True:
            response = await self._call(
                "GET", url, access_token, what="calendars.list", classify=errors.ACCOUNT_CLASSIFIER, params=params
            )
            body = expect_object(response, "calendars.list")
            values = body.get("value")
            for item in values if isinstance(values, list) else []:
                if isinstance(item, dict) and (calendar_id := as_str(item.get("id"))):
                    can_edit = item.get("canEdit")
                    calendars.append(
                        PlatformCalendar(
                            id=calendar_id,
                            name=as_str(item.get("name")),
                            is_primary=item.get("isDefaultCalendar") is True,
                            can_edit=can_edit if isinstance(can_edit, bool) else None,
                        )
                    )
            next_link = as_str(body.get("@odata.nextLink"))
            if not next_link:
                return calendars
            url, params = next_link, None

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
        resource = f"me/calendars/{path_segment(calendar_id)}/events" if calendar_id else "me/events"
        payload: dict[str, Any] = {
            "changeType": _SUBSCRIPTION_CHANGE_TYPES,
            "notificationUrl": address,
            "resource": resource,
            "expirationDateTime": graph_datetime(expires_at),
            "clientState": token,
            "latestSupportedTlsVersion": "v1_2",
        }
        if lifecycle_address:
            # Can only be set at creation: reauthorizationRequired, subscriptionRemoved and missed arrive there.
            payload["lifecycleNotificationUrl"] = lifecycle_address
        response = await self._call(
            "POST",
            "/subscriptions",
            access_token,
            what="subscriptions.create",
            classify=errors.CALENDAR_CLASSIFIER,
            json_payload=payload,
        )
        return self._channel(expect_object(response, "subscriptions.create"), token, expires_at, response)

    async def renew_channel(self, access_token: str, channel: PushChannel, expires_at: datetime) -> PushChannel | None:
        # A PATCH both extends and reauthorizes. A 404 (subscription already deleted by Graph) raises NOT_FOUND so
        # the caller recreates it at once.
        response = await self._call(
            "PATCH",
            f"/subscriptions/{path_segment(channel.id)}",
            access_token,
            what="subscriptions.update",
            classify=errors.ITEM_CLASSIFIER,
            json_payload={"expirationDateTime": graph_datetime(expires_at)},
        )
        return self._channel(expect_object(response, "subscriptions.update"), channel.token, expires_at, response)

    async def close_channel(self, access_token: str, channel: PushChannel) -> None:
        await unless_not_found(
            self._call(
                "DELETE",
                f"/subscriptions/{path_segment(channel.id)}",
                access_token,
                what="subscriptions.delete",
                classify=errors.ITEM_CLASSIFIER,
            )
        )

    async def aclose(self) -> None:
        return None  # the HTTP client is shared and owned by the caller

    @staticmethod
    def _channel(body: dict[str, Any], token: str, requested: datetime, response: httpx.Response) -> PushChannel:
        subscription_id = as_str(body.get("id"))
        if not subscription_id:
            raise ProviderError(
                ErrorKind.INVALID_REQUEST, "subscriptions: the reply has no id", status=response.status_code
            )
        return PushChannel(
            id=subscription_id,
            resource_id=None,
            # Graph may grant less than asked (a configurable maximum); keep what it actually granted.
            expires_at=parse_datetime(as_str(body.get("expirationDateTime")), "UTC") or requested,
            token=token,
        )
