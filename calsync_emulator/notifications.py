"""Outbound push: Google channel notifications, Graph change/lifecycle notifications and the Graph
validation handshake.

Changes only enqueue; delivery happens in tasks on the server loop through one shared aiohttp session (idle
connections expire after 4 s, like calsync's own) with bounded concurrency and short timeouts, so a control call
that changes events never waits for a receiver. Changes made in the same call are coalesced: one `exists` per channel, one
batched `value` array per Graph notification URL. Failures are recorded in the delivery log, never raised.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
import uuid
from collections import deque
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from calsync_emulator.model import Calendar, GoogleChannel, GraphSubscription, Platform
from calsync_emulator.state import EmulatorState
from calsync_emulator.timeutil import fmt_graph_timestamp, fmt_http_date

TENANT_ID = "72f988bf-0000-4000-8000-00000000e1e0"
GOOGLE_USER_AGENT = "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)"
GRAPH_BATCH_LIMIT = 100  # notifications per POST


@dataclass(frozen=True)
class _Reply:
    status: int
    content_type: str
    text: str


class Notifier:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.deliveries: deque[dict[str, Any]] = deque(maxlen=10000)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[str, asyncio.Lock] = {}  # one queue per destination keeps its order
        self._pending_channels: dict[str, GoogleChannel] = {}
        self._pending_graph: dict[str, list[tuple[GraphSubscription, dict[str, Any]]]] = {}
        self._flush_scheduled = False
        self._rng = random.Random(0)
        state.listeners.append(self.on_change)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        config = self.state.config
        self._slots = asyncio.Semaphore(config.notification_concurrency)
        self._client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=config.notification_concurrency, keepalive_timeout=4.0),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,  # receivers are local or explicit; never route them through a proxy
        )

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
            self._client = None
        self._loop = None

    async def wait_idle(self, limit_seconds: float) -> bool:
        """Wait until every queued delivery finished (True) or the timeout passed (False)."""
        deadline = time.monotonic() + limit_seconds
        while self._tasks or self._flush_scheduled:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._tasks:
                await asyncio.wait(set(self._tasks), timeout=remaining)
            else:
                await asyncio.sleep(0)
        return True

    def clear(self) -> None:
        self.deliveries.clear()

    # --- enqueueing --------------------------------------------------------------------------------------

    def on_change(self, cal: Calendar, changes: list[tuple[str, str]]) -> None:
        if self._loop is None:
            return
        account = self.state.accounts[cal.account_id]
        if account.platform is Platform.GOOGLE:
            for channel in self.state.live_channels(cal.id):
                self._pending_channels[channel.id] = channel
        else:
            for sub in self.state.live_subscriptions(cal):
                for event_id, change_type in changes:
                    if change_type in sub.change_types:
                        item = self._graph_item(sub, account.user_id, event_id, change_type)
                        self._pending_graph.setdefault(sub.notification_url, []).append((sub, item))
        if (self._pending_channels or self._pending_graph) and not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon_threadsafe(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        channels, self._pending_channels = self._pending_channels, {}
        batches, self._pending_graph = self._pending_graph, {}
        for channel in channels.values():
            # message numbers grow by a random step: increasing, never consecutive
            channel.message_number += self._rng.randint(2, 9)
            self._spawn(channel.id, self._send_google(channel, "exists", channel.message_number))
        for url, entries in batches.items():
            for i in range(0, len(entries), GRAPH_BATCH_LIMIT):
                self._spawn(url, self._send_graph(url, entries[i : i + GRAPH_BATCH_LIMIT]))

    def google_sync(self, channel: GoogleChannel) -> None:
        """The `sync` message (number 1) that follows every new channel."""
        self._spawn(channel.id, self._send_google(channel, "sync", 1))

    def graph_lifecycle(self, sub: GraphSubscription, event: str) -> None:
        self._spawn(sub.lifecycle_url or sub.notification_url, self._send_lifecycle(sub, event))

    def _spawn(self, destination: str, coro: Coroutine[Any, Any, None]) -> None:
        if self._loop is None:
            coro.close()
            return
        task = self._loop.create_task(self._serialized(destination, coro))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serialized(self, destination: str, coro: Coroutine[Any, Any, None]) -> None:
        lock = self._locks.setdefault(destination, asyncio.Lock())
        assert self._slots is not None
        async with lock, self._slots:
            await coro

    # --- delivery ------------------------------------------------------------------------------------------

    def _dropped(self, platform: str, account_id: str, url: str) -> bool:
        return bool(self.state.faults.pick(platform, account_id, url, notification=True))

    def _log(self, **fields: Any) -> dict[str, Any]:
        record = {"id": secrets.token_hex(6), "at": self.state.now().isoformat(), **fields}
        self.deliveries.append(record)
        return record

    async def _post(
        self,
        record: dict[str, Any],
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - Graph's handshake has its own; the others share one
    ) -> _Reply | None:
        assert self._client is not None
        seconds = self.state.config.notification_timeout_seconds if timeout is None else timeout
        started = time.perf_counter()
        try:
            async with self._client.post(
                url,
                headers=headers,
                data=body,
                json=json,
                params=params,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=seconds),
            ) as response:
                # Read to the end so the connection goes back to the pool.
                raw = await response.read()
                reply = _Reply(
                    response.status,
                    response.headers.get("content-type", ""),
                    raw.decode(response.charset or "utf-8", errors="replace"),
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
            return None
        finally:
            record["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
        record["status"] = reply.status
        return reply

    async def _send_google(self, channel: GoogleChannel, resource_state: str, number: int) -> None:
        if channel.stopped or channel.expiration <= self.state.now():
            return
        record = self._log(
            platform="google",
            kind=resource_state,
            url=channel.address,
            channel_id=channel.id,
            account_id=channel.account_id,
            message_number=number,
            status=None,
        )
        if self._dropped("google", channel.account_id, channel.address):
            record["dropped"] = True
            return
        headers = {
            "User-Agent": GOOGLE_USER_AGENT,
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Channel-Expiration": fmt_http_date(channel.expiration),
            "X-Goog-Message-Number": str(number),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-State": resource_state,
            "X-Goog-Resource-URI": channel.resource_uri,
        }
        if channel.token is not None:
            headers["X-Goog-Channel-Token"] = channel.token
        await self._post(record, channel.address, headers=headers, body=b"")

    def _graph_item(self, sub: GraphSubscription, user_id: str, event_id: str, change_type: str) -> dict[str, Any]:
        resource = f"Users/{user_id}/Events/{event_id}"
        return {
            "id": secrets.token_urlsafe(9),
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": fmt_graph_timestamp(sub.expiration),
            "clientState": sub.client_state,
            "changeType": change_type,
            "tenantId": TENANT_ID,
            "resource": resource,
            "resourceData": {
                "@odata.type": "#Microsoft.Graph.Event",
                "@odata.id": resource,
                "@odata.etag": f'W/"{secrets.token_urlsafe(12)}"',
                "id": event_id,
            },
        }

    async def _send_graph(self, url: str, entries: list[tuple[GraphSubscription, dict[str, Any]]]) -> None:
        now = self.state.now()
        items = [item for sub, item in entries if sub.id in self.state.subscriptions and sub.expiration > now]
        account_id = entries[0][0].account_id
        if not items:
            return
        record = self._log(
            platform="microsoft",
            kind="change",
            url=url,
            account_id=account_id,
            subscription_ids=sorted({i["subscriptionId"] for i in items}),
            items=len(items),
            status=None,
        )
        if self._dropped("microsoft", account_id, url):
            record["dropped"] = True
            return
        await self._post(record, url, json={"value": items})

    async def _send_lifecycle(self, sub: GraphSubscription, event: str) -> None:
        url = sub.lifecycle_url or sub.notification_url
        record = self._log(
            platform="microsoft",
            kind=f"lifecycle:{event}",
            url=url,
            account_id=sub.account_id,
            subscription_ids=[sub.id],
            status=None,
        )
        body = {
            "value": [
                {
                    "subscriptionId": sub.id,
                    "subscriptionExpirationDateTime": fmt_graph_timestamp(sub.expiration),
                    "tenantId": TENANT_ID,
                    "clientState": sub.client_state,
                    "lifecycleEvent": event,
                }
            ]
        }
        await self._post(record, url, json=body)

    async def validate(self, url: str, account_id: str) -> str | None:
        """Graph's handshake: POST ?validationToken=…; the endpoint must echo the decoded token as
        text/plain with 200 in time. Returns None on success, else why it failed."""
        token = f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
        record = self._log(platform="microsoft", kind="validation", url=url, account_id=account_id, status=None)
        response = await self._post(
            record,
            url,
            params={"validationToken": token},
            headers={"Content-Type": "text/plain; charset=utf-8"},
            body=b"",
            timeout=self.state.config.graph_validation_timeout_seconds,
        )
        if response is None:
            return str(record.get("error", "no response"))
        problem = None
        if response.status != 200:
            problem = f"status {response.status}"
        elif not response.content_type.startswith("text/plain"):
            problem = "Content-Type is not text/plain"
        elif response.text != token:
            problem = "the response body is not the decoded validationToken"
        record["error"] = problem
        return problem
