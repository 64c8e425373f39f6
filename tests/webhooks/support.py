"""Helpers for webhook tests: a programmable local receiver, and driving the delivery loop on a frozen clock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from calsync.clock import FrozenClock
from calsync.context import AppContext
from calsync.store.models import Calendar, WebhookDelivery
from calsync.webhooks.delivery_loop import WebhookDeliveryLoop
from calsync.webhooks.outbox import enqueue_calendar_webhook
from calsync.webhooks.payloads import CalendarSnapshot, EventChanges, events_update_data
from tests.api.seed import SEED_REQUEST
from tests.support.service import Tenant


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """HTTP/1.1 on 127.0.0.1. `status` is the answer; `hang` holds requests until released."""

    status: int = 200
    hang: bool = False
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def release(self) -> None:
        self._release.set()

    async def wait_for(self, count: int, seconds: float = 10) -> None:
        async with asyncio.timeout(seconds), self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests) >= count)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                _, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                async with self._arrived:
                    self.requests.append(Received(path, headers, body))
                    self._arrived.notify_all()
                if self.hang:
                    await self._release.wait()
                writer.write(b"HTTP/1.1 %d X\r\nContent-Length: 2\r\n\r\nok" % self.status)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def running_receiver(**options: Any) -> AsyncIterator[Receiver]:
    receiver = Receiver(**options)
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", receiver.port)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        async with server:
            yield receiver
    finally:
        receiver.release()


def frozen(context: AppContext) -> FrozenClock:
    """Freeze the context's clock at the real time (so signatures verify with real-time tolerance too)."""
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    context.clock = clock
    return clock


async def create_webhook(tenant: Tenant, url: str, **extra: Any) -> dict[str, Any]:
    body = {"url": url, "triggers": ["calendar.events_update", "calendar.state_change"], **extra}
    response = await tenant.client.post("/api/v1/webhooks", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def create_calendar(tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    data = {k: v for k, v in SEED_REQUEST.items() if k != "deduplication_key"} | overrides
    response = await tenant.client.post("/api/v1/calendars", json=data)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def sample_data(created: tuple[str, ...] = ("evt_a",)) -> dict[str, Any]:
    return events_update_data(
        CalendarSnapshot(state="connected", last_successful_sync_at=datetime(2026, 1, 1, tzinfo=UTC)),
        EventChanges(created=created, updated={"evt_b": ["start_time"]}),
    )


async def enqueue(
    context: AppContext, calendar_object_id: str, *, trigger: str = "calendar.events_update", **data: Any
) -> int:
    async with context.db.write() as session:
        calendar = (
            await session.execute(select(Calendar).where(Calendar.object_id == calendar_object_id))
        ).scalar_one()
        return await enqueue_calendar_webhook(
            session, calendar=calendar, trigger=trigger, data=data or sample_data(), now=context.clock()
        )


async def deliveries(context: AppContext) -> list[WebhookDelivery]:
    async with context.db.read() as session:
        return list((await session.execute(select(WebhookDelivery).order_by(WebhookDelivery.id))).scalars().all())


async def next_due(context: AppContext) -> datetime | None:
    async with context.db.read() as session:
        value: datetime | None = (await session.execute(select(func.min(WebhookDelivery.next_attempt_at)))).scalar()
        return value


async def pump(
    context: AppContext,
    loop: WebhookDeliveryLoop,
    clock: FrozenClock,
    done: Callable[[], Awaitable[bool]],
    *,
    max_rounds: int = 200,
    before_round: Callable[[int], Awaitable[None]] | None = None,
) -> int:
    """Run the loop, jumping the clock to the next due time between rounds, until `done()`; returns rounds."""
    for round_number in range(max_rounds):
        if before_round is not None:
            await before_round(round_number)
        while await loop.run_once():
            pass
        await loop.drain()
        if await done():
            return round_number
        due = await next_due(context)
        assert due is not None, "nothing is due but the condition is not met"
        if due > clock.now:
            clock.now = due
    raise AssertionError("delivery did not settle")
