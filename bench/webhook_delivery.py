"""Webhook delivery benchmark: deliveries/s to a local receiver against a bare loop, and the delay one dead
endpoint adds for others.

    .venv/bin/python bench/webhook_delivery.py [--database-url URL] [--deliveries 2000] [--runs 3] [--loop uvloop]
        [--workers 2]

Runs the real delivery loop under the real WorkerRunner (kicked on enqueue, as the sync engine does) against
receivers on 127.0.0.1. Phase 1 queues N deliveries at once and measures until all are recorded as succeeded,
with the process's CPU time per delivery; in the same run, a bare loop signs and POSTs the same kind of bodies to
the same receiver with aiohttp, 64 in flight, no database (the ceiling calsync is compared with), and so does
calsync's `send_webhook` alone (the sender without the loop's claims and records). The receivers run in this
process, so their CPU is in both numbers. On PostgreSQL the same throughput is then measured with `--workers`
`calsync worker` processes (the production shape: the loop in processes of their own, the receivers here). Phase 2 streams deliveries to healthy endpoints (one every
20 ms) and measures enqueue-commit → received, first alone, then with a dead endpoint (accepts, never answers)
that has a backlog queued ahead of them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from _common import calsync_env, cpu_seconds, spawn_calsync, workers_idle
from sqlalchemy import func, select, update

from calsync.cli.serve import EventLoop, event_loop_factory
from calsync.context import AppContext
from calsync.outbound.ssrf import TargetPolicy
from calsync.security.secret_box import generate_key
from calsync.settings import Settings
from calsync.store.due_work import WEBHOOK_DELIVERIES
from calsync.store.migrate import upgrade
from calsync.store.models import Calendar, WebhookDelivery
from calsync.store.queries import calendars as calendar_queries
from calsync.store.queries import projects as project_queries
from calsync.webhooks import queries, secret_store
from calsync.webhooks.delivery_loop import WebhookDeliveryLoop
from calsync.webhooks.outbox import enqueue_calendar_webhook
from calsync.webhooks.payloads import CalendarRef, CalendarSnapshot, EventChanges, build_envelope, events_update_data
from calsync.webhooks.sender import make_client, send_webhook
from calsync.webhooks.signing import build_headers, canonical_json, generate_secret
from calsync.worker.runner import WorkerRunner

DATA = events_update_data(
    CalendarSnapshot(state="connected"), EventChanges(created=("evt_a",), updated={"evt_b": ["start_time"]})
)


class Receiver:
    def __init__(self, *, dead: bool = False) -> None:
        self.dead = dead
        self.arrivals: dict[str, float] = {}
        self.port = 0
        self._never = asyncio.Event()
        # Each waiter's missing keys and its event: an arrival wakes a waiter only when its last key is in, so the
        # receiver costs the delivery loop's phase no more than the bare loop's (a Condition woke it on every one).
        self._waiters: list[tuple[set[str], asyncio.Event]] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._never.set()
        if self._server is not None:
            self._server.close()

    async def wait_for(self, keys: list[str], seconds: float = 120) -> None:
        missing = {key for key in keys if key not in self.arrivals}
        if not missing:
            return
        waiter = (missing, asyncio.Event())
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(seconds):
                await waiter[1].wait()
        finally:
            self._waiters.remove(waiter)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = dict(line.split(":", 1) for line in head.decode("latin-1").split("\r\n")[1:] if ":" in line)
                headers = {k.strip().lower(): v.strip() for k, v in headers.items()}
                await reader.readexactly(int(headers.get("content-length", "0")))
                key = headers["webhook-id"]
                self.arrivals.setdefault(key, time.perf_counter())
                for missing, arrived in self._waiters:
                    missing.discard(key)
                    if not missing:
                        arrived.set()
                if self.dead:
                    await self._never.wait()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def make_project(context: AppContext, name: str, url: str) -> Calendar:
    now = context.clock()
    async with context.db.write() as session:
        project = await project_queries.create_project(session, name, now)
        await queries.create_subscription(
            session, project.id, url=url, triggers=["calendar.events_update"], is_active=True, now=now
        )
        await secret_store.ensure_secret(session, context.secrets, project.id, now)
        return await calendar_queries.create_calendar(
            session,
            project.id,
            calendar_queries.NewCalendar("google", "client", context.secrets.encrypt(b"{}"), None, None, None),
            now,
        )


async def enqueue(context: AppContext, calendar: Calendar, count: int = 1, *, due: datetime | None = None) -> list[str]:
    async with context.db.write() as session:
        row = await session.get(Calendar, calendar.id)
        assert row is not None
        for _ in range(count):
            await enqueue_calendar_webhook(
                session, calendar=row, trigger="calendar.events_update", data=DATA, now=due or context.clock()
            )
        keys = (
            (
                await session.execute(
                    select(WebhookDelivery.idempotency_key)
                    .where(WebhookDelivery.calendar_id == calendar.id)
                    .order_by(WebhookDelivery.id.desc())
                    .limit(count)
                )
            )
            .scalars()
            .all()
        )
    context.work_signal.kick()
    return list(keys)


async def unfinished(context: AppContext) -> int:
    async with context.db.read() as session:
        return int(
            (
                await session.execute(
                    select(func.count(WebhookDelivery.id)).where(WebhookDelivery.status.in_(("pending", "delivering")))
                )
            ).scalar_one()
        )


BARE_IN_FLIGHT = 64


async def bare_loop(receiver: Receiver, n: int, *, calsync_sender: bool = False) -> tuple[float, float]:
    """(requests/s, CPU ms per request) of signing and POSTing `n` calsync-shaped bodies, 64 in flight, one shared
    client, no database: with aiohttp directly (the bare loop), or through calsync's `send_webhook` (the sender
    alone, without the delivery loop's claims and records)."""
    secret = generate_secret()
    calendar = CalendarRef("cal_bench", None, None)
    numbers = iter(range(n))
    policy = TargetPolicy(allow_http=True, allow_private=True)

    async def worker(session: aiohttp.ClientSession, client: Any) -> None:  # Any: also runs against older senders
        for i in numbers:
            key = f"bare_{time.perf_counter_ns()}_{i}"
            body = canonical_json(
                build_envelope(idempotency_key=key, trigger="calendar.events_update", data=DATA, calendar=calendar)
            )
            headers = build_headers(body, secrets=[secret], webhook_id=key, timestamp=int(time.time()))
            if calsync_sender:
                result = await send_webhook(client, receiver.url, body, headers, 10.0, policy=policy)
                assert result.succeeded, result.error
                continue
            async with session.post(receiver.url, data=body, headers=headers) as response:
                await response.read()
                assert response.status == 200

    async with aiohttp.ClientSession() as session, make_client() as client:
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(session, client) for _ in range(BARE_IN_FLIGHT)))
        elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu
    return n / elapsed, cpu_used * 1000 / n


async def throughput(context: AppContext, targets: list[tuple[Calendar, Receiver]], n: int) -> tuple[float, float]:
    """(deliveries/s, CPU ms per delivery) from the moment `n` deliveries are committed (spread over `targets`)
    until all are recorded."""
    keys: dict[int, list[str]] = {}
    for index, (calendar, _) in enumerate(targets):
        keys[index] = await enqueue(context, calendar, n // len(targets))
    loop = WebhookDeliveryLoop(context)
    runner = WorkerRunner(context, [loop])
    started, cpu = time.perf_counter(), time.process_time()
    task = asyncio.create_task(runner.run())
    for index, (_, receiver) in enumerate(targets):
        await receiver.wait_for(keys[index])
    runner.stop()
    await task  # the runner drains: every attempt is recorded before this returns
    elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu
    assert await unfinished(context) == 0
    delivered = sum(len(k) for k in keys.values())
    return delivered / elapsed, cpu_used * 1000 / delivered


async def throughput_in_workers(
    context: AppContext, targets: list[tuple[Calendar, Receiver]], n: int, workers: int
) -> tuple[float, float]:
    """(deliveries/s, the workers' CPU ms per delivery) with `workers` `calsync worker` processes (the production
    entry point: each its own event loop, pool and delivery loop). The rows are written due an hour from now, the
    workers started and left to go idle, then one transaction makes them all due (its NOTIFY wakes the workers);
    measured from that commit until every delivery is recorded."""
    later = context.clock() + timedelta(hours=1)
    keys = [await enqueue(context, calendar, n // len(targets), due=later) for calendar, _ in targets]
    async with context.db.write() as session:  # the bench's calendars are not synced (their grants are fake)
        await session.execute(update(Calendar).values(sync_due_at=context.clock() + timedelta(days=1)))
    env = calsync_env(
        context.settings.resolved_database_url,
        context.settings.encryption_keys or "",
        # Providers on a closed local port: no call leaves this machine, whatever a worker does.
        "http://127.0.0.1:9",
        CALSYNC_WEBHOOK_ALLOW_HTTP="true",
        CALSYNC_WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
    )
    with contextlib.ExitStack() as stack:
        processes = [stack.enter_context(spawn_calsync("worker", env)) for _ in range(workers)]
        await workers_idle(processes)
        cpu = sum(cpu_seconds(p.pid) for p in processes)
        async with context.db.write() as session:
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.status == "pending")
                .values(next_attempt_at=context.clock())
            )
            await WEBHOOK_DELIVERIES.notify(session)
        started = time.perf_counter()
        for (_, receiver), sent in zip(targets, keys, strict=True):
            await receiver.wait_for(sent)
        # Answered; recorded once no row is pending or delivering (by other processes: polled).
        while await unfinished(context):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        elapsed, cpu_used = time.perf_counter() - started, sum(cpu_seconds(p.pid) for p in processes) - cpu
    delivered = sum(len(k) for k in keys)
    return delivered / elapsed, cpu_used * 1000 / delivered


async def latencies(
    context: AppContext, healthy: list[tuple[Calendar, Receiver]], count: int, *, dead: tuple[Calendar, int] | None
) -> tuple[list[float], asyncio.Task[None]]:
    """Enqueue-commit → received, per healthy delivery; returns them and the (stopping) runner task."""
    loop = WebhookDeliveryLoop(context)
    runner = WorkerRunner(context, [loop])
    task = asyncio.create_task(runner.run())
    if dead is not None:
        await enqueue(context, dead[0], dead[1])  # the dead endpoint's backlog is due first
    sent: list[tuple[str, Receiver, float]] = []
    for index in range(count):
        calendar, receiver = healthy[index % len(healthy)]
        [key] = await enqueue(context, calendar)
        sent.append((key, receiver, time.perf_counter()))
        await asyncio.sleep(0.02)
    for _, receiver in healthy:
        await receiver.wait_for([key for key, r, _ in sent if r is receiver], seconds=60)
    runner.stop()
    return [(receiver.arrivals[key] - at) * 1000 for key, receiver, at in sent], task


def throughput_line(shape: str, queued: int, runs: list[tuple[float, float]], bare_rate: float, cpu: str) -> str:
    """One throughput result: the median rate, its ratio to the bare loop, CPU per delivery, every run's rate."""
    rate = statistics.median(r for r, _ in runs)
    return (
        f"throughput, {shape}, {queued} queued: median {rate:.0f} deliveries/s = {rate / bare_rate:.2f} of the bare "
        f"loop, {statistics.median(c for _, c in runs):.2f} ms of {cpu} each "
        f"(runs: {', '.join(f'{r:.0f}' for r, _ in runs)})"
    )


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"median {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, max {ordered[-1]:.1f} ms (n={len(ordered)})"


async def main(args: argparse.Namespace) -> None:
    directory = Path(tempfile.mkdtemp(prefix="calsync-bench-webhooks-"))
    url = args.database_url or f"sqlite+aiosqlite:///{directory / 'bench.db'}"
    await asyncio.to_thread(upgrade, url)
    settings = Settings(
        database_url=url,
        data_dir=directory,
        encryption_keys=generate_key(),
        webhook_allow_http=True,
        webhook_allow_private_targets=True,
        log_level="WARNING",
    )
    context = AppContext.from_settings(settings)
    receivers = [Receiver() for _ in range(4)]
    dead = Receiver(dead=True)
    for receiver in [*receivers, dead]:
        await receiver.start()
    try:
        calendars = [await make_project(context, f"healthy-{i}", r.url) for i, r in enumerate(receivers)]
        dead_calendar = await make_project(context, "dead", dead.url)
        print(f"database: {'SQLite' if context.db.is_sqlite else 'PostgreSQL'}, event loop: {args.loop}")
        healthy = list(zip(calendars, receivers, strict=True))
        bare = [await bare_loop(receivers[0], args.deliveries) for _ in range(args.runs)]
        bare_rate = statistics.median(rate for rate, _ in bare)
        print(
            f"bare loop (sign + POST, aiohttp, {BARE_IN_FLIGHT} in flight), {args.deliveries} requests: "
            f"median {bare_rate:.0f} requests/s, {statistics.median(c for _, c in bare):.2f} ms CPU each "
            f"(runs: {', '.join(f'{r:.0f}' for r, _ in bare)})"
        )
        sender = [await bare_loop(receivers[0], args.deliveries, calsync_sender=True) for _ in range(args.runs)]
        alone_rate = statistics.median(rate for rate, _ in sender)
        print(
            f"calsync's send_webhook alone (no database), {args.deliveries} requests: median {alone_rate:.0f} "
            f"requests/s = {alone_rate / bare_rate:.2f} of the bare loop, "
            f"{statistics.median(c for _, c in sender):.2f} ms CPU each"
        )
        for targets in (healthy[:1], healthy):
            runs = [await throughput(context, targets, args.deliveries) for _ in range(args.runs)]
            print(throughput_line(f"{len(targets)} endpoint(s)", args.deliveries, runs, bare_rate, "CPU"))
        if args.workers and not context.db.is_sqlite:
            for targets in (healthy[:1], healthy):
                runs = [
                    await throughput_in_workers(context, targets, args.deliveries, args.workers)
                    for _ in range(args.runs)
                ]
                shape = f"{len(targets)} endpoint(s), {args.workers} `calsync worker` processes"
                print(throughput_line(shape, args.deliveries, runs, bare_rate, "the workers' CPU"))
        alone, stopper_alone = await latencies(context, healthy, args.stream, dead=None)
        await stopper_alone
        print(f"latency, healthy endpoints only: {summary(alone)}")
        with_dead, stopper = await latencies(context, healthy, args.stream, dead=(dead_calendar, args.dead_backlog))
        print(
            f"latency, healthy endpoints beside a dead one with {args.dead_backlog} queued "
            f"(timeout {settings.webhook_timeout_seconds:g} s): {summary(with_dead)}"
        )
        print(
            f"delay added by the dead endpoint (median): {statistics.median(with_dead) - statistics.median(alone):+.1f} ms"
        )
        await dead.stop()  # release the dead endpoint's held requests so the runner can drain
        await stopper
    finally:
        for receiver in [*receivers, dead]:
            await receiver.stop()
        await context.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stream", type=int, default=200, help="healthy deliveries in the latency phase")
    parser.add_argument("--dead-backlog", type=int, default=200)
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="also measure the throughput with this many `calsync worker` processes (PostgreSQL; 0: skip)",
    )
    parser.add_argument(
        "--loop",
        choices=[loop.value for loop in EventLoop],
        default=EventLoop.uvloop.value,
        help="the event loop of the whole run, bare loop included (default: `calsync worker`'s, uvloop)",
    )
    arguments = parser.parse_args()
    with asyncio.Runner(loop_factory=event_loop_factory(EventLoop(arguments.loop))) as runner:
        runner.run(main(arguments))
