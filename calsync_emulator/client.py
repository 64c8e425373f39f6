"""A typed client for the emulator's control API (`/_emulator/...`).

`EmulatorControl` is async (calsync's tests are async); `SyncEmulatorControl` offers the same methods
blocking, for scripts and benchmarks.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Coroutine
from datetime import date, datetime
from typing import Any, Literal

import httpx

# Idle keep-alive connections expire before the server's 5 s idle timeout can close one under a request.
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=4.0)

PlatformName = Literal["google", "microsoft"]
TimeInput = str | date | datetime
LifecycleEvent = Literal["reauthorizationRequired", "subscriptionRemoved", "missed"]


class EmulatorError(Exception):
    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"emulator control call failed: {status} {detail}")
        self.status = status
        self.detail = detail


def _iso(value: TimeInput) -> str:
    return value if isinstance(value, str) else value.isoformat()


def _event_body(fields: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in fields.items() if v is not None}
    for name in ("start", "end"):
        if name in body:
            body[name] = _iso(body[name])
    return body


class EmulatorControl:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        client: httpx.AsyncClient | None = None,
        verify: str | bool = True,
    ) -> None:
        """`verify`: the CA file of an emulator started with --tls (httpx's `verify`)."""
        self.base_url = base_url.rstrip("/")
        context = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        self._client = client or httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, trust_env=False, verify=context, limits=_LIMITS
        )
        self._owns_client = client is None

    async def __aenter__(self) -> EmulatorControl:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        response = await self._client.request(method, f"/_emulator{path}", json=json, params=clean)
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text
            raise EmulatorError(response.status_code, detail)
        return response.json() if response.content else None

    # world
    async def health(self) -> bool:
        return bool((await self._call("GET", "/health"))["status"] == "ok")

    async def reset(self) -> None:
        await self._call("POST", "/reset")

    async def get_config(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "/config")
        return result

    async def set_config(self, **changes: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("PATCH", "/config", json=changes)
        return result

    async def now(self) -> datetime:
        return datetime.fromisoformat((await self._call("GET", "/clock"))["now"])

    async def advance(self, seconds: float) -> datetime:
        return datetime.fromisoformat((await self._call("POST", "/clock/advance", json={"seconds": seconds}))["now"])

    async def seed(
        self,
        *,
        seed: int = 0,
        google_accounts: int = 0,
        microsoft_accounts: int = 0,
        calendars_per_account: int = 1,
        events_per_calendar: int = 200,
        recurring_per_calendar: int = 5,
        start: date | None = None,
        days: int = 35,
        time_zone: str = "UTC",
        lazy: bool = True,
        distinct_accounts: int = 0,
    ) -> dict[str, Any]:
        body = {
            "seed": seed,
            "google_accounts": google_accounts,
            "microsoft_accounts": microsoft_accounts,
            "calendars_per_account": calendars_per_account,
            "events_per_calendar": events_per_calendar,
            "recurring_per_calendar": recurring_per_calendar,
            "start": start.isoformat() if start else None,
            "days": days,
            "time_zone": time_zone,
            "lazy": lazy,
            "distinct_accounts": distinct_accounts,
        }
        result: dict[str, Any] = await self._call("POST", "/seed", json=body)
        return result

    # accounts
    async def create_account(
        self,
        platform: PlatformName,
        *,
        account_id: str | None = None,
        email: str | None = None,
        display_name: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        refresh_token: str | None = None,
        time_zone: str = "UTC",
        calendars: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Returns the account: id, email, user_id, client_id, client_secret, refresh_token,
        primary_calendar_id, calendars[{id, name, time_zone, primary}]."""
        body = {
            "platform": platform,
            "id": account_id,
            "email": email,
            "display_name": display_name,
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": refresh_token,
            "time_zone": time_zone,
            "calendars": calendars or [],
        }
        result: dict[str, Any] = await self._call("POST", "/accounts", json=body)
        return result

    async def register_oauth_client(
        self, platform: PlatformName, client_id: str, client_secret: str, redirect_uris: list[str]
    ) -> dict[str, Any]:
        """Create or update an OAuth client with the redirect URIs its authorization endpoint accepts (exactly)."""
        body = {"client_secret": client_secret, "redirect_uris": redirect_uris}
        result: dict[str, Any] = await self._call("PUT", f"/oauth_clients/{platform}/{client_id}", json=body)
        return result

    async def get_account(self, account_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", f"/accounts/{account_id}")
        return result

    async def list_accounts(
        self, platform: PlatformName | None = None, *, offset: int = 0, limit: int = 100
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "GET", "/accounts", params={"platform": platform, "offset": offset, "limit": limit}
        )
        return result

    async def patch_account(
        self, account_id: str, *, calendar_access: bool | None = None, mailbox_enabled: bool | None = None
    ) -> dict[str, Any]:
        body = {
            k: v
            for k, v in {"calendar_access": calendar_access, "mailbox_enabled": mailbox_enabled}.items()
            if v is not None
        }
        result: dict[str, Any] = await self._call("PATCH", f"/accounts/{account_id}", json=body)
        return result

    async def revoke_grant(self, account_id: str, reason: str = "revoked", *, keep_access_tokens: bool = False) -> None:
        """Google reasons: revoked, invalid_rapt, admin_policy_enforced. Microsoft: revoked (50173),
        invalid (70000), inactive (700082), interaction_required, mfa_required (50076 basic_action),
        consent_required (65001)."""
        await self._call(
            "POST", f"/accounts/{account_id}/revoke", json={"reason": reason, "keep_access_tokens": keep_access_tokens}
        )

    async def restore_grant(self, account_id: str) -> str:
        """Clear the grant error and issue a fresh refresh token (returned)."""
        return str((await self._call("POST", f"/accounts/{account_id}/restore"))["refresh_token"])

    async def expire_access_tokens(self, account_id: str) -> int:
        return int((await self._call("POST", f"/accounts/{account_id}/expire-access-tokens"))["expired"])

    async def expire_sync_state(self, account_id: str, calendar_id: str | None = None) -> None:
        """Invalidate sync tokens (Google: 410 fullSyncRequired) / delta links (Graph: 410 SyncStateNotFound)."""
        await self._call("POST", f"/accounts/{account_id}/expire-sync-state", json={"calendar_id": calendar_id})

    async def add_calendar(
        self, account_id: str, name: str, *, time_zone: str | None = None, calendar_id: str | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", f"/accounts/{account_id}/calendars", json={"name": name, "time_zone": time_zone, "id": calendar_id}
        )
        return result

    async def delete_calendar(self, calendar_id: str) -> None:
        """Remove a (non-primary) calendar: 404 on both platforms, its channels and subscriptions end."""
        await self._call("DELETE", f"/calendars/{calendar_id}")

    # events
    async def create_event(
        self,
        calendar_id: str,
        start: TimeInput,
        end: TimeInput,
        *,
        time_zone: str | None = None,
        event_id: str | None = None,
        summary: str = "",
        description: str = "",
        location: str = "",
        status: str = "confirmed",
        recurrence: list[str] | None = None,
        attendees: list[dict[str, Any]] | None = None,
        organizer_email: str | None = None,
        organizer_name: str = "",
        meeting_url: str | None = None,
        show_as: str = "busy",
        ical_uid: str | None = None,
    ) -> dict[str, Any]:
        """A `date` (or YYYY-MM-DD) start/end makes an all-day event; naive date-times are wall time in
        `time_zone` (default: the calendar's). `recurrence` holds RRULE/EXDATE/RDATE lines."""
        body = _event_body(
            {
                "start": start,
                "end": end,
                "time_zone": time_zone,
                "id": event_id,
                "summary": summary,
                "description": description,
                "location": location,
                "status": status,
                "recurrence": recurrence or [],
                "attendees": attendees or [],
                "organizer_email": organizer_email,
                "organizer_name": organizer_name,
                "meeting_url": meeting_url,
                "show_as": show_as,
                "ical_uid": ical_uid,
            }
        )
        result: dict[str, Any] = await self._call("POST", f"/calendars/{calendar_id}/events", json=body)
        return result

    async def update_event(self, calendar_id: str, event_id: str, **changes: Any) -> dict[str, Any]:
        """Change a single event, a series (master id) or one instance (instance id -> exception)."""
        result: dict[str, Any] = await self._call(
            "PATCH", f"/calendars/{calendar_id}/events/{event_id}", json=_event_body(changes)
        )
        return result

    async def cancel_event(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", f"/calendars/{calendar_id}/events/{event_id}/cancel")
        return result

    async def restore_event(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        """Undo the deletion or cancellation of a single event (live again, with the same id)."""
        result: dict[str, Any] = await self._call("POST", f"/calendars/{calendar_id}/events/{event_id}/restore")
        return result

    async def move_event(self, calendar_id: str, event_id: str, to_calendar_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", f"/calendars/{calendar_id}/events/{event_id}/move", json={"to_calendar_id": to_calendar_id}
        )
        return result

    async def delete_event(self, calendar_id: str, event_id: str) -> None:
        await self._call("DELETE", f"/calendars/{calendar_id}/events/{event_id}")

    async def get_event(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", f"/calendars/{calendar_id}/events/{event_id}")
        return result

    async def list_events(self, calendar_id: str) -> list[dict[str, Any]]:
        return list((await self._call("GET", f"/calendars/{calendar_id}/events"))["items"])

    # faults
    async def add_fault(
        self,
        kind: str,
        *,
        platform: PlatformName | None = None,
        account_id: str | None = None,
        path_contains: str | None = None,
        count: int | None = None,
        fraction: float | None = None,
        retry_after: int | None = None,
        latency_ms: int = 0,
    ) -> dict[str, Any]:
        """kind: throttle_429, application_throttled_429, rate_limit_403, user_rate_limit_403,
        quota_exceeded_403, error_500, error_503, error_504, latency, drop_notifications."""
        body = {
            "kind": kind,
            "platform": platform,
            "account_id": account_id,
            "path_contains": path_contains,
            "count": count,
            "fraction": fraction,
            "retry_after": retry_after,
            "latency_ms": latency_ms,
        }
        result: dict[str, Any] = await self._call("POST", "/faults", json=body)
        return result

    async def faults(self) -> list[dict[str, Any]]:
        return list((await self._call("GET", "/faults"))["items"])

    async def remove_fault(self, fault_id: str) -> None:
        await self._call("DELETE", f"/faults/{fault_id}")

    async def clear_faults(self) -> None:
        await self._call("DELETE", "/faults")

    # observation
    async def requests(self, account_id: str | None = None, *, limit: int = 100) -> list[dict[str, Any]]:
        return list((await self._call("GET", "/requests", params={"account_id": account_id, "limit": limit}))["items"])

    async def push_copy(self, copies: list[dict[str, str]]) -> list[dict[str, Any]]:
        """Copy live channels/subscriptions: [{calendar_id, to_calendar_id, id}] -> [{kind, id, resource_id, calendar_id}]."""
        result: dict[str, Any] = await self._call("POST", "/push/copy", json={"copies": copies})
        items: list[dict[str, Any]] = result["items"]
        return items

    async def counters(self, account_id: str | None = None) -> dict[str, Any]:
        """{requests, response_bytes, endpoints: {"GET /google/...": {requests, response_bytes}}}"""
        result: dict[str, Any] = await self._call("GET", "/counters", params={"account_id": account_id})
        return result

    async def clear_requests(self) -> None:
        await self._call("DELETE", "/requests")

    async def notifications(self, account_id: str | None = None, *, limit: int = 100) -> list[dict[str, Any]]:
        return list(
            (await self._call("GET", "/notifications", params={"account_id": account_id, "limit": limit}))["items"]
        )

    async def wait_notifications(self, seconds: float = 10.0) -> bool:
        """Wait until every queued push delivery finished; False if `seconds` passed first."""
        return bool((await self._call("POST", "/notifications/wait", params={"seconds": seconds}))["idle"])

    async def clear_notifications(self) -> None:
        await self._call("DELETE", "/notifications")

    async def channels(self) -> list[dict[str, Any]]:
        return list((await self._call("GET", "/channels"))["items"])

    async def subscriptions(self) -> list[dict[str, Any]]:
        return list((await self._call("GET", "/subscriptions"))["items"])

    async def send_lifecycle(self, subscription_id: str, event: LifecycleEvent) -> None:
        await self._call("POST", f"/subscriptions/{subscription_id}/lifecycle", json={"event": event})


class SyncEmulatorControl:
    """Blocking twin of EmulatorControl: every async method, run on a private event loop."""

    def __init__(self, base_url: str, *, timeout: float = 30.0, verify: str | bool = True) -> None:
        self._loop = asyncio.new_event_loop()
        self._async = EmulatorControl(base_url, timeout=timeout, verify=verify)
        self.base_url = self._async.base_url

    def __enter__(self) -> SyncEmulatorControl:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._loop.run_until_complete(self._async.aclose())
        self._loop.close()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._async, name)
        if not callable(method) or name.startswith("_"):
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            coro: Coroutine[Any, Any, Any] = method(*args, **kwargs)
            return self._loop.run_until_complete(coro)

        return call
