"""Bot dispatch on time, exactly once (design.md §7), and event move → `bot.updated` over the push path.

Part `dispatch` (PostgreSQL): 100,000 scheduled bots stored, each following an event of one calendar, of which
10,000 fall due within the same minute (dispatch times spread uniformly over 60 s, starting `--warmup` seconds
after the workers start); the other 90,000 are due over the next week. Two `calsync worker` processes (the
production entry point) dispatch them; a subscription to the bot triggers sends every webhook to a receiver on
127.0.0.1 (a process of its own, so that this one's polling never delays an answer). Measured per due bot, from its `dispatch_at`:

- committed: when this process first saw its `bot.dispatch` outbox row, polling the outbox every 50 ms (an upper
  bound of the commit time: the row exists only once the dispatch transaction has committed);
- stamped: its `dispatched_at`, the dispatch transaction's clock, just before the commit (a lower bound);
- received: when its `bot.dispatch` webhook reached the receiver (signed, through the outbox and delivery loop).

And every bot's `bot.dispatch` rows (exactly one each) and deliveries received (by idempotency key).

Part `follow` (PostgreSQL, push path): the emulator (own process) seeds calendars with events; `calsync api` +
two `calsync worker` processes run with `CALSYNC_PUBLIC_URL`, so every calendar gets a push channel. A bot is
created for events with a meeting link; then, sample by sample, a bot's event is moved one hour on the emulator
(t0 = just before that call) until the receiver gets that bot's `bot.updated` with the new join time.

    .venv/bin/python bench/bot_dispatch.py                    # both parts: 100,000 / 10,000 bots; 1,000 calendars, 100 samples
    .venv/bin/python bench/bot_dispatch.py --part dispatch
    .venv/bin/python bench/bot_dispatch.py --quick            # 10,000 / 1,000 bots; 200 calendars, 30 samples
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    bench_context,
    bench_database,
    calsync_env,
    cpu_seconds,
    emit_json,
    free_port,
    insert_calendars,
    machine,
    new_tenant,
    pct,
    postgres_cpu,
    postgres_cpu_since,
    print_table,
    quiet_logs,
    seed_in_window,
    seeded_accounts,
    spawn_calsync,
    spawn_emulator,
)

SEED = 41
MEET = "https://meet.google.com/abc-defg-hij"
TARGETS = {"committed": 1.0, "received": 2.0, "updated": 3.0}
POLL_SECONDS = 0.05


class Receiver:
    """The local receiver, in a process of its own (so that this process's polling never delays an answer): HTTP/1.1
    on 127.0.0.1, answers 200 at once, and appends `[arrival time, envelope]` per webhook to a file read here."""

    def __init__(self) -> None:
        self.arrivals: dict[str, list[tuple[float, dict[str, Any]]]] = {}  # trigger -> [(time, envelope)]
        self.port = 0
        self._path = Path(tempfile.mkdtemp(prefix="calsync-bench-receiver-")) / "arrivals.jsonl"
        self._process: subprocess.Popen[bytes] | None = None
        self._offset = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        command = [sys.executable, __file__, "--serve-receiver", str(self._path)]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE)
        assert self._process.stdout is not None
        self.port = int(self._process.stdout.readline())

    def stop(self) -> None:
        self._read()
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)

    def of(self, trigger: str) -> list[tuple[float, dict[str, Any]]]:
        self._read()
        return self.arrivals.get(trigger, [])

    async def wait(self, seconds: float) -> None:
        await asyncio.sleep(min(seconds, 0.05))

    def _read(self) -> None:
        if not self._path.exists():
            return
        with self._path.open("rb") as file:
            file.seek(self._offset)
            data = file.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.splitlines():
            arrived, envelope = json.loads(line)
            self.arrivals.setdefault(envelope["trigger"], []).append((arrived, envelope))


async def serve_receiver(path: str) -> None:
    """The receiver process: records each POST's arrival time and envelope, line by line."""
    out = open(path, "ab", buffering=0)  # noqa: ASYNC230, SIM115 - one small append per request, for the process's life

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")[1:]
                headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines if line)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                arrived = time.time()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                out.write(json.dumps([arrived, json.loads(body)]).encode() + b"\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


@contextlib.contextmanager
def workers(count: int, env: dict[str, str]) -> Iterator[list[int]]:
    """`count` `calsync worker` processes; yields their pids."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(spawn_calsync("worker", env)).pid for _ in range(count)]


async def subscribe(context: Any, project_id: int, url: str, triggers: list[str]) -> None:
    from calsync.webhooks import queries, secret_store

    async with context.db.write() as session:
        now = context.clock()
        await queries.create_subscription(session, project_id, url=url, triggers=triggers, is_active=True, now=now)
        await secret_store.ensure_secret(session, context.secrets, project_id, now)


# --- part 1: dispatch ----------------------------------------------------------------------------------------


async def store_bots(
    context: Any, project_id: int, calendar_id: int, due: list[datetime], later: int
) -> dict[str, datetime]:
    """One event and one bot per dispatch time (`due`), and `later` more due over the next week, bulk-inserted as
    the sync engine and the API would write them. Returns the due bots' dispatch times by object id."""
    from sqlalchemy import insert, select

    from calsync.ids import new_id
    from calsync.store.duration_classes import span_class, update_lag_class
    from calsync.store.models import Bot, Calendar, CalendarEvent

    async with context.db.read() as session:
        calendar_object_id = (
            await session.execute(select(Calendar.object_id).where(Calendar.id == calendar_id))
        ).scalar_one()
    rng = random.Random(SEED)
    now = datetime.now(UTC)
    week = [now + timedelta(seconds=rng.uniform(3600, 7 * 86400)) for _ in range(later)]
    lead = timedelta(seconds=120)
    dispatch_times = sorted(due) + week
    due_bots: dict[str, datetime] = {}
    batch = 5000
    for first in range(0, len(dispatch_times), batch):
        chunk = dispatch_times[first : first + batch]
        events, bots = [], []
        for offset, dispatch_at in enumerate(chunk):
            start = dispatch_at + lead
            event_object_id, bot_object_id = new_id("evt_"), new_id("bot_")
            events.append(
                {
                    "object_id": event_object_id,
                    "project_id": project_id,
                    "calendar_id": calendar_id,
                    "platform_uuid": event_object_id,
                    "name": "Standup",
                    "start_time": start,
                    "end_time": start + timedelta(minutes=30),
                    "span_class": span_class(start, start + timedelta(minutes=30)),
                    "is_all_day": False,
                    "is_deleted": False,
                    "meeting_url": MEET,
                    "attendees": [{"email": "ada@example.com", "name": "Ada"}],
                    "content_hash": event_object_id,
                    "created_at": now,
                    "updated_at": now,
                    "update_lag_class": update_lag_class(now, now),
                    "change_seq": first + offset + 1,
                }
            )
            bots.append((bot_object_id, event_object_id, start, dispatch_at))
            if first + offset < len(due):
                due_bots[bot_object_id] = dispatch_at
        async with context.db.write() as session:
            ids = dict(
                (
                    await session.execute(
                        insert(CalendarEvent).returning(CalendarEvent.object_id, CalendarEvent.id), events
                    )
                ).all()
            )
            await session.execute(
                insert(Bot),
                [
                    {
                        "object_id": bot_object_id,
                        "project_id": project_id,
                        "calendar_id": calendar_id,
                        "calendar_object_id": calendar_object_id,
                        "event_id": ids[event_object_id],
                        "event_object_id": event_object_id,
                        "state": "scheduled",
                        "meeting_url": MEET,
                        "join_at": start,
                        "dispatch_at": dispatch_at,
                        "dispatch_due_at": dispatch_at,
                        "join_offset_seconds": 0,
                        "dispatch_lead_seconds": 120,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for bot_object_id, event_object_id, start, dispatch_at in bots
                ],
            )
    return due_bots


async def watch_commits(
    context: Any, due_bots: dict[str, datetime], seen: dict[str, float], stop: asyncio.Event
) -> None:
    """Record when each due bot's `bot.dispatch` row is first visible (committed). Ids are not committed in order
    across workers, so each poll re-reads a margin below the highest id seen: more than the outbox rows of the
    transactions in flight (workers x 100 bots x 2 rows), few enough to keep this process light."""
    from sqlalchemy import select

    from calsync.store.models import WebhookDelivery

    highest, margin = 0, 450
    while not stop.is_set():
        async with context.db.read() as session:
            rows = (
                await session.execute(
                    select(WebhookDelivery.id, WebhookDelivery.bot_object_id).where(
                        WebhookDelivery.id > highest - margin, WebhookDelivery.trigger == "bot.dispatch"
                    )
                )
            ).all()
        observed = time.time()
        for row_id, bot_id in rows:
            highest = max(highest, row_id)
            if bot_id in due_bots:
                seen.setdefault(bot_id, observed)
        await asyncio.sleep(POLL_SECONDS)


async def dispatch_part(args: argparse.Namespace, database_url: str) -> dict[str, Any]:
    from sqlalchemy import func, select

    from calsync.security.secret_box import generate_key
    from calsync.store.models import Bot, WebhookDelivery

    key = generate_key()
    receiver = Receiver()
    receiver.start()
    async with bench_context(database_url, None, encryption_keys=key) as context:
        tenant = await new_tenant(context)
        await subscribe(context, tenant.project_id, receiver.url, ["bot.dispatch", "bot.updated", "bot.state_change"])
        [calendar_id] = await insert_calendars(context, tenant.project_id, seeded_accounts(SEED, 1, 0), due=None)
        window_start = datetime.now(UTC) + timedelta(seconds=args.warmup)
        rng = random.Random(SEED)
        due = [window_start + timedelta(seconds=rng.uniform(0, 60)) for _ in range(args.due)]
        started = time.monotonic()
        due_bots = await store_bots(context, tenant.project_id, calendar_id, due, args.bots - args.due)
        stored_in = time.monotonic() - started
        if datetime.now(UTC) > window_start - timedelta(seconds=5):
            raise SystemExit(f"storing took {stored_in:.0f} s: raise --warmup above it")
        print(
            f"dispatch: {args.bots:,} bots stored in {stored_in:.0f} s; {args.due:,} due from {window_start:%H:%M:%S}",
            flush=True,
        )
        env = calsync_env(
            database_url,
            key,
            None,
            CALSYNC_WEBHOOK_ALLOW_HTTP="true",
            CALSYNC_WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
        )
        committed: dict[str, float] = {}
        stop = asyncio.Event()
        with workers(args.workers, env) as pids:
            cpu_before = {pid: cpu_seconds(pid) for pid in pids}
            pg_before = postgres_cpu()
            watcher = asyncio.create_task(watch_commits(context, due_bots, committed, stop))
            deadline = window_start + timedelta(seconds=60 + args.settle)
            while datetime.now(UTC) < deadline:
                received = {envelope["bot_id"] for _, envelope in receiver.of("bot.dispatch")}
                if len(committed) == len(due_bots) and due_bots.keys() <= received:
                    break
                await receiver.wait(1.0)
            await asyncio.sleep(2.0)  # duplicates, if any, would arrive now
            stop.set()
            await watcher
            worker_cpu = sum(cpu_seconds(pid) - cpu_before[pid] for pid in pids)
            pg_cpu = postgres_cpu_since(pg_before)
        async with context.db.read() as session:
            stamped = dict(
                (
                    await session.execute(
                        select(Bot.object_id, Bot.dispatched_at).where(Bot.dispatched_at.is_not(None))
                    )
                ).all()
            )
            rows = Counter(
                dict(
                    (
                        await session.execute(
                            select(WebhookDelivery.bot_object_id, func.count())
                            .where(WebhookDelivery.trigger == "bot.dispatch")
                            .group_by(WebhookDelivery.bot_object_id)
                        )
                    ).all()
                )
            )
            attempts = dict(
                (
                    await session.execute(
                        select(WebhookDelivery.attempts, func.count())
                        .where(WebhookDelivery.trigger == "bot.dispatch")
                        .group_by(WebhookDelivery.attempts)
                    )
                ).all()
            )
            errors = dict(
                (
                    await session.execute(
                        select(WebhookDelivery.last_error, func.count())
                        .where(WebhookDelivery.last_error.is_not(None))
                        .group_by(WebhookDelivery.last_error)
                    )
                ).all()
            )
    receiver.stop()
    first_arrival: dict[str, float] = {}
    keys_per_bot: dict[str, set[str]] = {}
    deliveries_per_bot: Counter[str] = Counter()
    for arrived, envelope in receiver.of("bot.dispatch"):
        first_arrival.setdefault(envelope["bot_id"], arrived)
        keys_per_bot.setdefault(envelope["bot_id"], set()).add(envelope["idempotency_key"])
        deliveries_per_bot[envelope["bot_id"]] += 1

    def lags(times: dict[str, float]) -> list[float]:
        return [times[bot] - at.timestamp() for bot, at in due_bots.items() if bot in times]

    stamped_lag = [(stamped[bot] - at).total_seconds() for bot, at in due_bots.items() if bot in stamped]
    return {
        "bots": args.bots,
        "due": len(due_bots),
        "workers": args.workers,
        "stored_seconds": stored_in,
        "committed": summary(lags(committed), len(due_bots)),
        "stamped": summary(stamped_lag, len(due_bots)),
        "received": summary(lags(first_arrival), len(due_bots)),
        "dispatched_early": sum(1 for lag in stamped_lag if lag < 0),
        "bots_with_more_than_one_dispatch_row": sum(1 for count in rows.values() if count > 1),
        "bots_with_more_than_one_idempotency_key_received": sum(1 for keys in keys_per_bot.values() if len(keys) > 1),
        "redeliveries_received": sum(deliveries_per_bot.values()) - len(deliveries_per_bot),
        "dispatched_not_due": sum(1 for bot in stamped if bot not in due_bots),
        "worker_cpu_seconds": worker_cpu,
        "postgres_cpu_seconds": pg_cpu,
        "bot_dispatch_deliveries_by_attempts": attempts,
        "delivery_errors": errors,
    }


def summary(values: list[float], expected: int) -> dict[str, Any]:
    return {
        "n": len(values),
        "expected": expected,
        "p50": pct(values, 0.5),
        "p99": pct(values, 0.99),
        "max": max(values, default=float("nan")),
    }


# --- part 2: event moved → bot.updated (push path) ---------------------------------------------------------------


async def follow_part(args: argparse.Namespace, database_url: str, emulator: Any) -> dict[str, Any]:
    from sqlalchemy import func, select

    from calsync.security.secret_box import generate_key
    from calsync.store.models import Calendar
    from calsync_emulator.client import EmulatorControl

    key = generate_key()
    receiver = Receiver()
    receiver.start()
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    samples: list[float | None] = []
    async with bench_context(database_url, emulator.url, encryption_keys=key) as context:
        tenant = await new_tenant(context)
        half = args.calendars // 2
        accounts = seeded_accounts(SEED, half, args.calendars - half)
        await insert_calendars(context, tenant.project_id, accounts, due=datetime.now(UTC))
        await subscribe(context, tenant.project_id, receiver.url, ["bot.updated"])
        env = calsync_env(
            database_url,
            key,
            emulator.url,
            CALSYNC_PUBLIC_URL=api_url,
            CALSYNC_WEBHOOK_ALLOW_HTTP="true",
            CALSYNC_WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
            CALSYNC_DISABLE_RATE_LIMITING="true",
        )
        with workers(args.workers, env), spawn_calsync("api", env, port=port):
            began = time.monotonic()
            while time.monotonic() - began < args.initial_timeout:
                async with context.db.read() as session:
                    synced = (
                        await session.execute(
                            select(func.count()).where(
                                Calendar.last_successful_sync_at.is_not(None), Calendar.push_state == "active"
                            )
                        )
                    ).scalar_one()
                if synced >= args.calendars:
                    break
                await asyncio.sleep(1.0)
            print(f"follow: {synced:,} calendars synced with push in {time.monotonic() - began:.0f} s", flush=True)
            headers = {"Authorization": f"Token {tenant.api_key}"}
            async with (
                httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30, trust_env=False) as api,
                EmulatorControl(emulator.url) as control,
            ):
                targets = await bots_for_events(api, control, accounts, args.samples)
                await asyncio.sleep(2.0)
                for index, (bot_id, calendar, event_id, start) in enumerate(targets):
                    moved = start + timedelta(hours=1 + index % 5)
                    before = len(receiver.of("bot.updated"))
                    t0 = time.time()
                    await control.update_event(calendar, event_id, start=moved, end=moved + timedelta(minutes=30))
                    samples.append(await arrival_of(receiver, bot_id, before, t0, args.sample_timeout))
                    await asyncio.sleep(args.gap)
    receiver.stop()
    seen = [s for s in samples if s is not None]
    return {"calendars": args.calendars, "samples": len(samples), **summary(seen, len(samples))}


async def bots_for_events(
    api: httpx.AsyncClient, control: Any, accounts: list[tuple[str, dict[str, str]]], count: int
) -> list[tuple[str, str, str, datetime]]:
    """A bot for one event with a meeting link of each of `count` calendars: (bot id, emulator calendar, emulator
    event id, the event's start)."""
    rng = random.Random(SEED)
    chosen: list[tuple[str, str, str, datetime]] = []
    for _platform, credentials in rng.sample(accounts, len(accounts)):
        if len(chosen) == count:
            break
        calendar = (await control.get_account(credentials["account_id"]))["primary_calendar_id"]
        params = {"include_raw": "false", "calendar_deduplication_key": credentials["account_id"]}
        events = (await api.get("/api/v1/calendar_events", params=params)).json()["results"]
        linked = [e for e in events if e["meeting_url"] and not e["is_all_day"] and not e["recurring_event_id"]]
        if not linked:
            continue
        created = await api.post("/api/v1/bots", json={"calendar_event_id": linked[0]["id"]})
        if created.status_code == 201:
            start = datetime.fromisoformat(linked[0]["start_time"].replace("Z", "+00:00"))
            chosen.append((created.json()["id"], calendar, linked[0]["platform_uuid"], start))
    return chosen


async def arrival_of(receiver: Receiver, bot_id: str, before: int, t0: float, bound: float) -> float | None:
    deadline = time.time() + bound
    while time.time() < deadline:
        for arrived, envelope in receiver.of("bot.updated")[before:]:
            if envelope["bot_id"] == bot_id:
                return arrived - t0
        await receiver.wait(max(0.0, deadline - time.time()))
    return None


# --- report ----------------------------------------------------------------------------------------------------


def report(results: dict[str, Any]) -> None:
    m = machine()
    print(f"\nmachine: {m['nproc']} cores, {m['cpu']}, {m['ram_gb']} GB, load {m['loadavg']}")
    if "dispatch" in results:
        d = results["dispatch"]
        rows = []
        for name, label in (
            ("committed", "due → outbox row committed (seen)"),
            ("stamped", "due → dispatched_at (stamped)"),
            ("received", "due → bot.dispatch received"),
        ):
            s = d[name]
            target = TARGETS.get(name)
            verdict = "" if target is None else ("ok" if s["p99"] < target and s["n"] == s["expected"] else "MISS")
            rows.append(
                [
                    label,
                    f"{s['n']:,} / {s['expected']:,}",
                    f"{s['p50']:.3f}",
                    f"{s['p99']:.3f}",
                    f"{s['max']:.3f}",
                    verdict,
                ]
            )
        print_table(
            f"{d['due']:,} due within one minute among {d['bots']:,} scheduled, PostgreSQL, {d['workers']} calsync workers",
            ["lag (s)", "bots", "p50", "p99", "max", "target"],
            rows,
        )
        print(
            f"dispatched early: {d['dispatched_early']}; bots with >1 bot.dispatch row: "
            f"{d['bots_with_more_than_one_dispatch_row']}; bots received under >1 idempotency key: "
            f"{d['bots_with_more_than_one_idempotency_key_received']}; redeliveries received: "
            f"{d['redeliveries_received']}; not-yet-due bots dispatched: {d['dispatched_not_due']}"
        )
        print(
            f"CPU while dispatching and delivering: workers {d['worker_cpu_seconds']:.1f} s, "
            f"PostgreSQL {d['postgres_cpu_seconds']:.1f} s"
        )
        print(
            f"bot.dispatch deliveries by attempts: {d['bot_dispatch_deliveries_by_attempts']}; errors: {d['delivery_errors']}"
        )
    if "follow" in results:
        f = results["follow"]
        verdict = "ok" if f["p99"] < TARGETS["updated"] and f["n"] == f["expected"] else "MISS"
        print_table(
            f"event moved on the platform → bot.updated received (push path), {f['calendars']:,} calendars, PostgreSQL",
            ["samples", "p50 s", "p99 s", "max s", "target p99 < 3 s"],
            [[f"{f['n']} / {f['expected']}", f"{f['p50']:.3f}", f"{f['p99']:.3f}", f"{f['max']:.3f}", verdict]],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("both", "dispatch", "follow"), default="both")
    parser.add_argument("--bots", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000, help="bots due within the one minute")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=90.0, help="seconds from storing to the first due bot")
    parser.add_argument("--settle", type=float, default=60.0, help="seconds after the minute to wait for stragglers")
    parser.add_argument("--calendars", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between samples")
    parser.add_argument("--sample-timeout", type=float, default=30.0)
    parser.add_argument("--initial-timeout", type=float, default=300.0)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--quick", action="store_true", help="10,000 / 1,000 bots; 200 calendars, 30 samples")
    parser.add_argument("--json", default=None)
    parser.add_argument("--serve-receiver", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_receiver:
        asyncio.run(serve_receiver(args.serve_receiver))
        return
    if args.quick:
        args.bots, args.due, args.warmup, args.calendars, args.samples = 10_000, 1_000, 30.0, 200, 30
    quiet_logs()
    results: dict[str, Any] = {}
    if args.part in ("both", "dispatch"):
        with bench_database("postgres", "bots", args.database_url) as db:
            results["dispatch"] = asyncio.run(dispatch_part(args, db.url))
    if args.part in ("both", "follow"):
        with spawn_emulator() as emulator, bench_database("postgres", "botfollow", args.database_url) as db:
            seed_in_window(emulator.url, seed=SEED, calendars=args.calendars, events=5, recurring=0, lazy=True)
            results["follow"] = asyncio.run(follow_part(args, db.url, emulator))
    report(results)
    emit_json(args.json, {"benchmark": "bot_dispatch", "args": vars(args), "results": results})


if __name__ == "__main__":
    main()
