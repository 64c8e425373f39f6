"""calsync at production shape: 100,000 calendars on one PostgreSQL, `calsync api` + W `calsync worker` processes.

The platform is the emulator in its own process, seeded lazily: half Google, half Microsoft, in buckets of events
per calendar (median ~20, a long tail to 2,000, a few recurring series each). One project has a webhook subscribed
to a local receiver (every calendar and bot trigger) and one active bot rule (every meeting with a link gets a bot,
dispatched to the same receiver); push is on (`CALSYNC_PUBLIC_URL`).

(a) Backfill. `--backfill` template accounts (spread over the buckets) sync through the real path; time, events/s,
    the meetings' evaluation backlog when the last calendar synced and the time until it drained, DB size. The other
    calendars are seeded with `distinct_accounts`, so the emulator gives each the very events (ids included) of its
    template, and their synced state is copied from the template's rows: the calendar with its sync cursor re-pointed
    at its own emulator calendar, its push channel (the emulator copies the template's live channel or subscription
    onto it, `POST /_emulator/push/copy`), its events with new ids (one INSERT ... SELECT per batch), by
    bench/copied_state.py (shared with bench/push_latency.py). Every later sync of a copy is real. Copies hold no
    access token (the next check refreshes one) and their next periodic check is spread uniformly over the
    safety-net interval (a fleet in its rhythm). Their meetings are not
    re-evaluated: the meetings scan cursor is moved past the copies, whose events join their template's meetings.
(b) Steady state. Platform changes (renames of existing events; 1 in 20 a new meeting starting in 3-4 minutes,
    which the rule gives a bot) at `--rate` a second, with 10x bursts of `--burst-seconds` every `--burst-every`
    seconds (a compressed "top of the hour"). Push -> visible is measured from just before the control call to the
    first poll (every 100 ms, on the events' change clock) that sees the new title in the database the API reads;
    webhook received is the first `calendar.events_update` of that calendar at the receiver after the change; bot
    lateness is the `bot.dispatch` arrival minus the bot's `dispatch_at`. CPU of every process, worker RSS and
    PostgreSQL connections (sampled every second).
(c) At rest. No changes for `--rest-seconds`; the emulator's counters give the provider calls by kind, extrapolated
    to a day per calendar (the clock is not accelerated: the workers run on real time). WAL and row writes per hour,
    connections, worker CPU. Compared with the hourly safety net it replaced: calendars/3600 checks a second at the
    worker CPU one no-change check costs (measured on `--check-sample` copies made due at once: token refresh and
    an empty incremental listing, as each hourly check did).
(d) Scaling. W = 1, 2, 4 workers, `--scale-seconds` each at `--scale-rate` changes a second (above capacity):
    changes made visible per second, and each process's share of the machine.

    flock /tmp/bench.lock .venv/bin/python bench/scale.py --json /tmp/scale.json      # 100,000 calendars
    .venv/bin/python bench/scale.py --quick                                           # 5,000 calendars, ~5 min (10 on a busy machine)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    ChildEmulator,
    bench_context,
    bench_database,
    calsync_env,
    cpu_seconds,
    emit_json,
    free_port,
    insert_calendars,
    loop_cpu,
    machine,
    new_tenant,
    pct,
    print_table,
    proc_status,
    quiet_logs,
    spawn_calsync,
    spawn_emulator,
    with_children,
)
from bot_dispatch import Receiver, subscribe
from copied_state import CopyOf, copy_state, seeded_calendar
from initial_sync import evaluations_left

# (seeded events per calendar, of them series, share of calendars): in calsync's window (a day back, 28 ahead)
# that stores a median of ~21 events per calendar (a series expands to ~9 instances), ~2,000 in the largest
# fmt: off
BUCKETS = [(4, 1, 0.15), (8, 1, 0.20), (16, 1, 0.30), (30, 2, 0.18), (70, 3, 0.11), (220, 5, 0.05), (700, 8, 0.008),
           (2400, 10, 0.002)]
# fmt: on
SEED_BASE = 240
TRIGGERS = ["calendar.events_update", "bot.dispatch", "bot.updated", "bot.state_change"]
MEET = "https://meet.google.com/abc-defg-hij"


@dataclass
class Bucket:
    seed: int
    events: int
    recurring: int
    google: int
    microsoft: int
    templates: int  # per platform


@dataclass
class Population:
    buckets: list[Bucket]

    @property
    def calendars(self) -> int:
        return sum(b.google + b.microsoft for b in self.buckets)


def population(calendars: int, backfill: int) -> Population:
    buckets = []
    for n, (events, recurring, share) in enumerate(BUCKETS):
        count = max(2, round(calendars * share))
        templates = max(1, round(backfill * share / 2))
        buckets.append(Bucket(SEED_BASE + n, events, recurring, count // 2, count - count // 2, templates))
    return Population(buckets)


def accounts(bucket: Bucket) -> list[tuple[str, dict[str, str], int]]:
    """(platform, credentials, template index) of every account of a bucket."""
    from calsync_emulator.model import Platform
    from calsync_emulator.seeding import credentials

    out = []
    for platform, count, name in (
        (Platform.GOOGLE, bucket.google, "google"),
        (Platform.MICROSOFT, bucket.microsoft, "microsoft"),
    ):
        out += [(name, credentials(bucket.seed, platform, i), i % bucket.templates) for i in range(count)]
    return out


# --- processes -------------------------------------------------------------------------------------------------


# Each worker's metrics URL by pid: its CPU per loop (calsync.worker.loop_cpu) splits the phases' worker CPU.
METRICS: dict[int, str] = {}


@contextlib.contextmanager
def workers(count: int, env: dict[str, str]) -> Iterator[list[int]]:
    with contextlib.ExitStack() as stack:
        pids = []
        for _ in range(count):
            port = free_port()
            own = env | {"CALSYNC_WORKER_METRICS_PORT": str(port), "CALSYNC_WORKER_LOOP_CPU_METRICS": "true"}
            pid = stack.enter_context(spawn_calsync("worker", own)).pid
            METRICS[pid] = f"http://127.0.0.1:{port}/metrics"
            pids.append(pid)
        yield pids


def loops_cpu(pids: list[int]) -> dict[str, float]:
    """CPU seconds per worker loop so far, summed over the workers (empty from workers without the meter)."""
    total: dict[str, float] = {}
    for pid in pids:
        try:
            seconds = loop_cpu(METRICS[pid])
        except (KeyError, OSError, httpx.HTTPError):
            continue  # (not up yet, or without the meter: the split is left out)
        for name, value in seconds.items():
            total[name] = total.get(name, 0.0) + value
    return total


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return float(sum(fields) - idle), float(sum(fields))


class Meter:
    """CPU seconds of named processes, of this database's PostgreSQL backends (other databases on the server are
    not counted; backends that exit in between are lost, the pools keep theirs open) and the machine's busy share,
    between start() and stop()."""

    def __init__(self, context: Any, pids: dict[str, list[int]]) -> None:
        self.context = context
        self.pids = pids

    async def _backends(self) -> dict[int, float]:
        pids = await self.context_pids()
        return {pid: cpu_seconds(pid) for pid in pids}

    async def context_pids(self) -> list[int]:
        from sqlalchemy import text

        async with self.context.db.read() as session:
            rows = await session.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"))
            return [int(r[0]) for r in rows]

    async def start(self) -> None:
        self.t0 = time.monotonic()
        self.before = {name: sum(cpu_seconds(p) for p in pids) for name, pids in self.pids.items()}
        self.pg_before = await self._backends()
        self.busy0 = machine_busy()

    async def stop(self) -> dict[str, float]:
        out = {name: sum(cpu_seconds(p) for p in pids) - self.before[name] for name, pids in self.pids.items()}
        now = await self._backends()
        out["postgres"] = sum(v - self.pg_before.get(pid, 0.0) for pid, v in now.items() if v == v)
        busy, total = machine_busy()
        out["machine_busy_share"] = (busy - self.busy0[0]) / max(1.0, total - self.busy0[1])
        out["seconds"] = time.monotonic() - self.t0
        return out


# --- database helpers ------------------------------------------------------------------------------------------


async def scalar(context: Any, sql: str, **params: Any) -> Any:
    from sqlalchemy import text

    async with context.db.read() as session:
        return (await session.execute(text(sql), params)).scalar_one()


async def db_size_mb(context: Any) -> float:
    return float(await scalar(context, "SELECT pg_database_size(current_database())")) / 1e6


async def pg_connections(context: Any) -> int:
    return int(await scalar(context, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"))


async def wait_synced(
    context: Any, ids: list[int], bound: float, column: str = "last_successful_sync_at IS NOT NULL"
) -> float:
    started = time.monotonic()
    while time.monotonic() - started < bound:
        done = int(await scalar(context, f"SELECT count(*) FROM calendars WHERE id = ANY(:ids) AND {column}", ids=ids))
        if done >= len(ids):
            break
        await asyncio.sleep(1.0)
    return time.monotonic() - started


async def drain(context: Any, bound: float) -> float:
    """Wait (at most `bound` s) until no calendar is overdue, so that a phase does not measure the last one's backlog."""
    started = time.monotonic()
    while time.monotonic() - started < bound:
        if not int(await scalar(context, "SELECT count(*) FROM calendars WHERE sync_due_at <= now()")):
            break
        await asyncio.sleep(1.0)
    return time.monotonic() - started


# --- (a) backfill and the copied state -------------------------------------------------------------------------


def copies_of(pop: Population, templates: dict[tuple[int, str, int], int]) -> list[CopyOf]:
    """Every non-template account of the population, with the calendar of the template it is copied from."""
    out = []
    for bucket in pop.buckets:
        for platform, cred, template in accounts(bucket):
            index = int(cred["account_id"].rsplit(platform[0], 1)[1])
            if index >= bucket.templates:
                out.append(CopyOf(bucket.seed, platform, index, template, templates[(bucket.seed, platform, template)]))
    return out


async def make_due(context: Any, ids: list[int]) -> None:
    from sqlalchemy import text

    from calsync.store.work_signal import notify_work_in_transaction

    async with context.db.write() as session:
        await session.execute(
            text("UPDATE calendars SET sync_due_at = now(), sync_reason = 'created' WHERE id = ANY(:ids)"), {"ids": ids}
        )
        await notify_work_in_transaction(session)


# --- (b) changes and what they cause ----------------------------------------------------------------------------


@dataclass
class Target:
    object_id: str
    emulator_calendar: str
    events: list[str]


@dataclass
class Change:
    target: Target
    title: str
    t0: float
    visible: float | None = None


@dataclass
class Stream:
    changes: list[Change] = field(default_factory=list)
    by_title: dict[str, Change] = field(default_factory=dict)
    meetings: int = 0
    failed: int = 0


async def targets(context: Any) -> list[Target]:
    """Every calendar with an open channel, with the ids of its single events (its template's, the same ids)."""
    from sqlalchemy import text

    async with context.db.read() as session:
        cals = (
            await session.execute(
                text(
                    "SELECT c.id, c.object_id, c.deduplication_key, coalesce(m.template_id, c.id) FROM calendars c "
                    "LEFT JOIN bench_copies m ON m.copy_id = c.id WHERE c.push_state = 'active'"
                )
            )
        ).all()
        events: dict[int, list[str]] = {}
        for cal_id, uuid in await session.execute(
            text(
                "SELECT calendar_id, platform_uuid FROM calendar_events WHERE recurring_event_id IS NULL "
                "AND NOT is_deleted AND NOT is_all_day AND calendar_id IN (SELECT template_id FROM bench_copies "
                "UNION SELECT id FROM calendars WHERE id NOT IN (SELECT copy_id FROM bench_copies))"
            )
        ):
            events.setdefault(int(cal_id), []).append(str(uuid))
    return [Target(r[1], seeded_calendar(str(r[2])), events[int(r[3])]) for r in cals if events.get(int(r[3]))]


async def drive(
    emulator_url: str,
    pool: list[Target],
    stream: Stream,
    rate: float,
    seconds: float,
    burst_every: float,
    burst_seconds: float,
    meetings_until: float,
    rng: random.Random,
    tag: str,
) -> None:
    """Changes at `rate`/s (10x during the first `burst_seconds` of every `burst_every`), bounded by `seconds`."""
    from calsync_emulator.client import EmulatorControl

    gate = asyncio.Semaphore(64)
    tasks: set[asyncio.Task[None]] = set()
    async with EmulatorControl(emulator_url, timeout=30) as control:

        async def one(n: int) -> None:
            async with gate:
                target = rng.choice(pool)
                # The tag keeps every phase's titles new: a title an event already has is no change to the platform.
                title = f"scale {tag} {n} {rng.randrange(10**9)}"
                change = Change(target, title, time.time())
                try:
                    if time.monotonic() < meetings_until and n % 20 == 0:
                        start = datetime.now(UTC) + timedelta(seconds=180 + rng.uniform(0, 60))
                        await control.create_event(
                            target.emulator_calendar,
                            start,
                            start + timedelta(minutes=30),
                            summary=title,
                            meeting_url=meet_link(n),
                        )
                        stream.meetings += 1
                    else:
                        await control.update_event(target.emulator_calendar, rng.choice(target.events), summary=title)
                except Exception as exc:  # a failed control call is counted, never retried
                    stream.failed += 1
                    if stream.failed == 1:
                        print(f"  first failed control call: {exc!r}", flush=True)
                    return
                stream.changes.append(change)
                stream.by_title[title] = change

        started = time.monotonic()
        n = 0
        next_at = started
        while time.monotonic() - started < seconds:
            elapsed = time.monotonic() - started
            current = rate * (10 if burst_every and elapsed % burst_every < burst_seconds else 1)
            next_at += 1.0 / current
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(n))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
        if tasks:
            await asyncio.gather(*tasks)


def meet_link(n: int) -> str:
    """A Google Meet link of its own for the n-th change: a Meet code is letters only, so n is spelled in letters
    (a digit would make it no meeting link, and the rule would give it no bot)."""
    code = "".join(chr(ord("a") + (n // 26**i) % 26) for i in range(3))
    return MEET.replace("hij", code)


async def watch_visible(context: Any, project_id: int, stream: Stream, stop: asyncio.Event) -> None:
    """Mark each change visible at the first poll that finds its title among the rows committed since the last."""
    from sqlalchemy import text

    last = int(await scalar(context, "SELECT change_seq FROM projects WHERE id = :p", p=project_id))
    while not stop.is_set():
        async with context.db.read() as session:
            rows = (
                await session.execute(
                    text("SELECT name, change_seq FROM calendar_events WHERE project_id = :p AND change_seq > :last"),
                    {"p": project_id, "last": last},
                )
            ).all()
        seen = time.time()
        for name, seq in rows:
            last = max(last, int(seq))
            change = stream.by_title.get(name or "")
            if change is not None and change.visible is None:
                change.visible = seen
        await asyncio.sleep(0.1)


def webhook_latencies(stream: Stream, receiver: Receiver) -> list[float]:
    arrivals: dict[str, list[float]] = {}
    for arrived, envelope in receiver.of("calendar.events_update"):
        arrivals.setdefault(str(envelope.get("calendar_id")), []).append(arrived)
    out = []
    for change in stream.changes:
        if change.visible is None:
            continue
        later = [a for a in arrivals.get(change.target.object_id, []) if a >= change.t0]
        if later:
            out.append(min(later) - change.t0)
    return out


async def bot_lateness(context: Any, receiver: Receiver, since: float) -> list[float]:
    from sqlalchemy import text

    arrived = {str(e["bot_id"]): a for a, e in receiver.of("bot.dispatch") if a >= since}
    if not arrived:
        return []
    async with context.db.read() as session:
        due = dict(
            (
                await session.execute(
                    text("SELECT object_id, dispatch_at FROM bots WHERE object_id = ANY(:ids)"), {"ids": list(arrived)}
                )
            ).all()
        )
    return [arrived[b] - due[b].timestamp() for b in arrived if b in due]


async def bots_by_state(context: Any, since: float) -> dict[str, int]:
    """Bots made since `since`, by state: tells a bot never made from one made but not dispatched in time."""
    from sqlalchemy import text

    async with context.db.read() as session:
        rows = await session.execute(
            text("SELECT state, count(*) FROM bots WHERE created_at >= :since GROUP BY state"),
            {"since": datetime.fromtimestamp(since, UTC)},
        )
        return {str(state): int(n) for state, n in rows}


async def sample_connections(context: Any, samples: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(await pg_connections(context))
        await asyncio.sleep(1.0)


async def steady(
    args: argparse.Namespace,
    context: Any,
    emulator: ChildEmulator,
    pool: list[Target],
    receiver: Receiver,
    meter: Meter,
    worker_pids: list[int],
    rate: float,
    seconds: float,
    *,
    meetings: bool,
    project_id: int,
    tag: str,
) -> dict[str, Any]:
    stream = Stream()
    stop = asyncio.Event()
    connections: list[int] = []
    since = time.time()
    watcher = asyncio.create_task(watch_visible(context, project_id, stream, stop))
    sampler = asyncio.create_task(sample_connections(context, connections, stop))
    rss: list[float] = []
    calls0 = await counters_by_kind(emulator.url)
    loops0 = loops_cpu(worker_pids)
    await meter.start()
    meetings_until = time.monotonic() + (seconds - 240 if meetings else 0)
    await drive(
        emulator.url,
        pool,
        stream,
        rate,
        seconds,
        args.burst_every,
        args.burst_seconds,
        meetings_until,
        random.Random(f"{len(pool)} {tag}"),
        tag,
    )
    drove = await meter.stop()
    loops1 = loops_cpu(worker_pids)
    # Syncs are counted over the metered window, so that CPU per sync divides like by like (the settle is not metered).
    calls_metered = await counters_by_kind(emulator.url)
    settle = time.monotonic()
    while time.monotonic() - settle < args.settle and any(c.visible is None for c in stream.changes):  # noqa: ASYNC110 - set by a poll
        await asyncio.sleep(0.5)
    rss = [proc_status(p).get("VmRSS", 0.0) for p in worker_pids]
    hwm = [proc_status(p).get("VmHWM", 0.0) for p in worker_pids]
    stop.set()
    await asyncio.gather(watcher, sampler)
    calls1 = await counters_by_kind(emulator.url)
    catch_ups = int(await scalar(context, "SELECT count(*) FROM calendars WHERE sync_reason = 'push_catchup'"))
    visible = [c.visible - c.t0 for c in stream.changes if c.visible is not None]
    # The phase's second half: with one burst at its start (`--burst-every` at least the phase), what a steady
    # 20/s sees once the burst's backlog is gone; a change never made visible counts as the worst.
    second_half = [
        (c.visible - c.t0) if c.visible is not None else float("inf")
        for c in stream.changes
        if c.t0 >= since + seconds / 2  # both wall-clock readings
    ]
    hooks = webhook_latencies(stream, receiver)
    bots_late = await bot_lateness(context, receiver, since) if meetings else []
    bots_made = await bots_by_state(context, since) if meetings else {}
    made = len(stream.changes)
    calls = {k: calls1.get(k, 0) - calls0.get(k, 0) for k in sorted(set(calls0) | set(calls1))}
    # Syncs done meanwhile (one listing each), whichever changes they carried: above capacity, a phase works through
    # the backlog the previous one left, so its own changes' visibility understates what the workers did.
    synced = max(1, calls_metered.get("listing", 0) - calls0.get("listing", 0))
    return {
        "rate": rate,
        "seconds": seconds,
        "changes": made,
        "failed_control_calls": stream.failed,
        "meetings_created": stream.meetings,
        "visible": len(visible),
        "visible_per_s": len(visible) / drove["seconds"],  # the driver may take longer than `seconds`
        "visible_p50": pct(visible, 0.5),
        "visible_p99": pct(visible, 0.99),
        "visible_max": max(visible, default=float("nan")),
        "visible_second_half_p50": pct(second_half, 0.5),
        "visible_second_half_p99": pct(second_half, 0.99),
        "webhook_received": len(hooks),
        "webhook_p50": pct(hooks, 0.5),
        "webhook_p99": pct(hooks, 0.99),
        "bots_made_by_state": bots_made,
        "bots_dispatched": len(bots_late),
        "bot_late_p50": pct(bots_late, 0.5),
        "bot_late_p99": pct(bots_late, 0.99),
        "cpu": drove,
        "worker_cpu_ms_per_change": 1000 * drove["workers"] / max(1, made),
        "postgres_cpu_ms_per_change": 1000 * drove["postgres"] / max(1, made),
        "syncs_per_s": synced / drove["seconds"],
        "worker_cpu_ms_per_sync": 1000 * drove["workers"] / synced,
        "postgres_cpu_ms_per_sync": 1000 * drove["postgres"] / synced,
        # The workers' CPU per sync by loop (sync, meetings, webhook delivery, bots; `other`: outside a loop's task).
        "worker_cpu_ms_per_sync_by_loop": {
            name: 1000 * (value - loops0.get(name, 0.0)) / synced for name, value in loops1.items()
        },
        "worker_rss_mb": rss,
        "worker_hwm_mb": hwm,
        "pg_connections_max": max(connections, default=0),
        "pg_connections_p50": pct(connections, 0.5),
        # provider calls made meanwhile, and calendars still waiting for a push receiver's catch-up at the end
        "calls": calls,
        "catch_up_pending": catch_ups,
    }


# --- (c) at rest -------------------------------------------------------------------------------------------------


def call_kind(endpoint: str) -> str:
    method, _, path = endpoint.partition(" ")
    if "token" in path:
        return "token"
    if "/watch" in path or (method == "POST" and "subscriptions" in path):
        return "channel open"
    if method == "PATCH" and "subscriptions" in path:
        return "channel renew"
    if "channels/stop" in path or (method == "DELETE" and "subscriptions" in path):
        return "channel stop"
    if "events" in path or "calendarView" in path or "delta" in path:
        return "listing"
    return "other"


async def counters_by_kind(emulator_url: str) -> dict[str, int]:
    from calsync_emulator.client import EmulatorControl

    async with EmulatorControl(emulator_url, timeout=60) as control:
        endpoints = (await control.counters())["endpoints"]
    out: dict[str, int] = {}
    for endpoint, value in endpoints.items():
        out[call_kind(endpoint)] = out.get(call_kind(endpoint), 0) + int(value["requests"])
    return out


async def wal_and_writes(context: Any) -> tuple[int, int, int]:
    from sqlalchemy import text

    async with context.db.read() as session:
        lsn = int((await session.execute(text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')"))).scalar_one())
        row = (
            await session.execute(
                text(
                    "SELECT tup_inserted + tup_updated + tup_deleted, xact_commit FROM pg_stat_database "
                    "WHERE datname = current_database()"
                )
            )
        ).one()
    return lsn, int(row[0]), int(row[1])


async def at_rest(
    args: argparse.Namespace, context: Any, emulator: ChildEmulator, meter: Meter, calendars: int, check_ms: float
) -> dict[str, Any]:
    stop = asyncio.Event()
    connections: list[int] = []
    sampler = asyncio.create_task(sample_connections(context, connections, stop))
    calls0 = await counters_by_kind(emulator.url)
    wal0, writes0, commits0 = await wal_and_writes(context)
    await meter.start()
    await asyncio.sleep(args.rest_seconds)
    used = await meter.stop()
    calls1 = await counters_by_kind(emulator.url)
    wal1, writes1, commits1 = await wal_and_writes(context)
    stop.set()
    await sampler
    seconds = used["seconds"]
    per_day = 86400 / seconds / calendars
    calls = {k: (calls1.get(k, 0) - calls0.get(k, 0)) * per_day for k in sorted(set(calls0) | set(calls1))}
    idle_cores = used["workers"] / seconds
    old_net_cores = calendars / 3600 * check_ms / 1000
    return {
        "seconds": seconds,
        "calls_per_calendar_day": calls,
        "wal_mb_per_hour": (wal1 - wal0) / 1e6 * 3600 / seconds,
        "row_writes_per_hour": (writes1 - writes0) * 3600 / seconds,
        "commits_per_hour": (commits1 - commits0) * 3600 / seconds,
        "pg_connections_max": max(connections, default=0),
        "worker_cpu_cores": idle_cores,
        "postgres_cpu_cores": used["postgres"] / seconds,
        "emulator_cpu_cores": used["emulator"] / seconds,
        "old_safety_net_cores": old_net_cores,
        "check_worker_cpu_ms": check_ms,
        "ratio": old_net_cores / idle_cores if idle_cores else float("inf"),
    }


# --- the run -----------------------------------------------------------------------------------------------------


async def add_rule(api_url: str, api_key: str) -> None:
    async with httpx.AsyncClient(
        base_url=api_url, headers={"Authorization": f"Token {api_key}"}, trust_env=False
    ) as api:
        response = await api.post(
            "/api/v1/bot_rules", json={"name": "every meeting", "event_selection": "all", "response": "any"}
        )
        response.raise_for_status()


async def run(args: argparse.Namespace, database_url: str, emulator: ChildEmulator, pop: Population) -> dict[str, Any]:
    receiver = Receiver()
    receiver.start()
    try:
        return await measure(args, database_url, emulator, pop, receiver)
    finally:
        receiver.stop()


def checkpoint(args: argparse.Namespace, result: dict[str, Any]) -> None:
    """The results so far in `--json`, so that a run stopped by its time bound keeps its finished phases."""
    emit_json(args.json, {"benchmark": "scale", "args": vars(args), "partial": True, "results": result})


async def measure(
    args: argparse.Namespace, database_url: str, emulator: ChildEmulator, pop: Population, receiver: Receiver
) -> dict[str, Any]:
    from calsync.security.secret_box import generate_key

    key = generate_key()
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    result: dict[str, Any] = {"calendars": pop.calendars}
    async with bench_context(database_url, emulator.url, encryption_keys=key) as context:
        tenant = await new_tenant(context)
        await subscribe(context, tenant.project_id, receiver.url, TRIGGERS)
        templates: dict[tuple[int, str, int], int] = {}
        for bucket in pop.buckets:
            chosen = [
                (p, c, t) for p, c, t in accounts(bucket) if int(c["account_id"].rsplit(p[0], 1)[1]) < bucket.templates
            ]
            ids = await insert_calendars(context, tenant.project_id, [(p, c) for p, c, _ in chosen], due=None)
            for (platform, _, template), cal_id in zip(chosen, ids, strict=True):
                templates[(bucket.seed, platform, template)] = cal_id
        env = calsync_env(
            database_url,
            key,
            emulator.url,
            CALSYNC_PUBLIC_URL=api_url,
            CALSYNC_WEBHOOK_ALLOW_HTTP="true",
            CALSYNC_WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
            CALSYNC_DISABLE_RATE_LIMITING="true",
        )
        with spawn_calsync("api", env, port=port) as api:
            await add_rule(api_url, tenant.api_key)
            stack = contextlib.ExitStack()
            worker_pids = stack.enter_context(workers(args.workers, env))
            meter = Meter(context, {"workers": worker_pids, "api": with_children(api.pid), "emulator": [emulator.pid]})
            # (a) backfill of the templates
            template_ids = list(templates.values())
            await asyncio.sleep(2.0)
            await meter.start()
            await make_due(context, template_ids)
            took = await wait_synced(context, template_ids, args.backfill_timeout)
            backlog = await evaluations_left(context)
            used = await meter.stop()
            events = int(await scalar(context, "SELECT count(*) FROM calendar_events"))
            drained = time.monotonic()
            while await evaluations_left(context) and time.monotonic() - drained < args.backfill_timeout:  # noqa: ASYNC110
                await asyncio.sleep(1.0)
            result["backfill"] = {
                "calendars": len(template_ids),
                "seconds": took,
                "events": events,
                "events_per_s": events / took,
                "cpu": used,
                "evaluation_backlog": backlog,
                "evaluated_after_s": time.monotonic() - drained,
                "meetings": int(await scalar(context, "SELECT count(*) FROM meetings")),
                "bots": int(await scalar(context, "SELECT count(*) FROM bots")),
                "db_mb": await db_size_mb(context),
            }
            print(f"(a) backfill: {result['backfill']}", flush=True)
            checkpoint(args, result)
            stack.close()  # no worker while the copies are written
            copies, opened, copy_s = await copy_state(context, emulator.url, copies_of(pop, templates), args.copy_batch)
            total_events = int(await scalar(context, "SELECT count(*) FROM calendar_events"))
            result["copy"] = {
                "calendars": len(copies),
                "channels": opened,
                "seconds": copy_s,
                "events": total_events,
                "db_mb": await db_size_mb(context),
            }
            print(f"(a) copied state: {result['copy']}", flush=True)
            checkpoint(args, result)
            worker_pids = stack.enter_context(workers(args.workers, env))
            meter = Meter(context, {"workers": worker_pids, "api": with_children(api.pid), "emulator": [emulator.pid]})
            await asyncio.sleep(2.0)
            # what one periodic check costs (token refresh + incremental listing, channel kept): a sample made due
            sample = random.Random(3).sample(copies, min(args.check_sample, len(copies)))
            await meter.start()
            await make_due(context, sample)
            took = await wait_synced(
                context,
                sample,
                args.backfill_timeout,
                "last_successful_sync_at > now() - interval '1 hour' AND sync_due_at > now()",
            )
            used = await meter.stop()
            check_ms = 1000 * used["workers"] / max(1, len(sample))
            result["check"] = {
                "calendars": len(sample),
                "seconds": took,
                "cpu": used,
                "worker_cpu_ms_per_check": check_ms,
                "postgres_cpu_ms_per_check": 1000 * used["postgres"] / max(1, len(sample)),
            }
            print(f"(c) one check: {result['check']}", flush=True)
            checkpoint(args, result)
            pool = await targets(context)
            # (b) steady state
            result["steady"] = await steady(
                args,
                context,
                emulator,
                pool,
                receiver,
                meter,
                worker_pids,
                args.rate,
                args.steady_seconds,
                meetings=True,
                project_id=tenant.project_id,
                tag="steady",
            )
            print(f"(b) steady: {result['steady']}", flush=True)
            checkpoint(args, result)
            # (c) at rest
            result["rest_drain_s"] = await drain(context, args.drain_timeout)
            result["rest"] = await at_rest(args, context, emulator, meter, pop.calendars, check_ms)
            print(f"(c) at rest: {result['rest']}", flush=True)
            checkpoint(args, result)
            stack.close()
            # (d) scaling
            result["scaling"] = []
            for count in (1, 2, 4):
                with workers(count, env) as pids:
                    meter = Meter(context, {"workers": pids, "api": with_children(api.pid), "emulator": [emulator.pid]})
                    drained = await drain(context, args.drain_timeout)
                    one = await steady(
                        args,
                        context,
                        emulator,
                        pool,
                        receiver,
                        meter,
                        pids,
                        args.scale_rate,
                        args.scale_seconds,
                        meetings=False,
                        project_id=tenant.project_id,
                        tag=f"w{count}",
                    )
                one["workers"] = count
                one["drain_before_s"] = drained
                result["scaling"].append(one)
                print(
                    f"(d) W={count}: {one['syncs_per_s']:.1f} syncs/s, {one['visible_per_s']:.1f} of its changes"
                    f" visible/s, cpu {one['cpu']}",
                    flush=True,
                )
                checkpoint(args, result)
        result["emulator_rss_mb"] = proc_status(emulator.pid).get("VmRSS", 0.0)
        result["db_mb_end"] = await db_size_mb(context)
    return result


def report(args: argparse.Namespace, r: dict[str, Any]) -> None:
    m = machine()
    print(f"\nmachine: {m['nproc']} cores, {m['cpu']}, {m['ram_gb']} GB, load {m['loadavg']}")
    b, c, w = r["backfill"], r["copy"], r["check"]
    print_table(
        f"(a) backfill of {b['calendars']:,} calendars through the real path ({args.workers} workers), then the copies",
        ["what", "value"],
        [
            ["backfill s", f"{b['seconds']:.1f}"],
            ["events stored", f"{b['events']:,}"],
            ["events/s", f"{b['events_per_s']:,.0f}"],
            ["meetings evaluation backlog at the end (queued + events behind)", f"{b['evaluation_backlog']:,}"],
            ["evaluated after s", f"{b['evaluated_after_s']:.1f}"],
            ["meetings / bots", f"{b['meetings']:,} / {b['bots']:,}"],
            ["DB MB after backfill", f"{b['db_mb']:,.0f}"],
            ["copied calendars / s", f"{c['calendars']:,} / {c['seconds']:.0f}"],
            ["events in all / DB MB", f"{c['events']:,} / {c['db_mb']:,.0f}"],
            ["copied push channels", f"{c['channels']:,}"],
            [
                "one periodic check (sample of copies): worker / PostgreSQL CPU ms",
                f"{w['worker_cpu_ms_per_check']:.1f} / {w['postgres_cpu_ms_per_check']:.1f} ({w['calendars']:,} in {w['seconds']:.0f} s)",
            ],
        ],
    )
    s = r["steady"]
    cpu = s["cpu"]
    print_table(
        f"(b) steady state: {s['rate']}/s, 10x for {args.burst_seconds:.0f} s every {args.burst_every:.0f} s, "
        f"{s['seconds']:.0f} s, {args.workers} workers",
        ["what", "value"],
        [
            ["changes (failed control calls)", f"{s['changes']:,} ({s['failed_control_calls']})"],
            [
                "push -> visible p50 / p99 / max s",
                f"{s['visible_p50']:.2f} / {s['visible_p99']:.2f} / {s['visible_max']:.2f} ({s['visible']:,} seen)",
            ],
            [
                "push -> visible, second half of the phase: p50 / p99 s",
                f"{s['visible_second_half_p50']:.2f} / {s['visible_second_half_p99']:.2f}",
            ],
            [
                "webhook received p50 / p99 s",
                f"{s['webhook_p50']:.2f} / {s['webhook_p99']:.2f} ({s['webhook_received']:,})",
            ],
            [
                "bot dispatch late p50 / p99 s",
                f"{s['bot_late_p50']:.2f} / {s['bot_late_p99']:.2f} ({s['bots_dispatched']} bots)",
            ],
            ["bots made in the phase, by state", ", ".join(f"{k} {v:,}" for k, v in s["bots_made_by_state"].items())],
            [
                "worker / PostgreSQL CPU ms per change",
                f"{s['worker_cpu_ms_per_change']:.1f} / {s['postgres_cpu_ms_per_change']:.1f}",
            ],
            [
                "syncs done /s; worker / PostgreSQL CPU ms per sync",
                f"{s['syncs_per_s']:.1f}; {s['worker_cpu_ms_per_sync']:.1f} / {s['postgres_cpu_ms_per_sync']:.1f}",
            ],
            [
                "of the worker CPU per sync, ms by loop",
                ", ".join(f"{k} {v:.1f}" for k, v in sorted(s.get("worker_cpu_ms_per_sync_by_loop", {}).items())),
            ],
            [
                "CPU s: workers / api / postgres / emulator",
                f"{cpu['workers']:.0f} / {cpu['api']:.0f} / {cpu['postgres']:.0f} / {cpu['emulator']:.0f}",
            ],
            ["machine busy", f"{cpu['machine_busy_share']:.0%}"],
            [
                "worker RSS MB (peak)",
                ", ".join(f"{a:.0f} ({h:.0f})" for a, h in zip(s["worker_rss_mb"], s["worker_hwm_mb"], strict=True)),
            ],
            ["PostgreSQL connections max / p50", f"{s['pg_connections_max']} / {s['pg_connections_p50']}"],
            ["provider calls meanwhile", ", ".join(f"{k} {v:,}" for k, v in s["calls"].items())],
            ["calendars waiting for a push catch-up at the end", f"{s['catch_up_pending']:,}"],
        ],
    )
    rest = r["rest"]
    print_table(
        f"(c) at rest, {rest['seconds']:.0f} s measured, extrapolated (real clock)",
        ["what", "value"],
        [
            *[[f"calls per calendar per day: {k}", f"{v:.2f}"] for k, v in rest["calls_per_calendar_day"].items()],
            ["WAL MB per hour (the whole server: other databases included)", f"{rest['wal_mb_per_hour']:.1f}"],
            ["row writes / commits per hour", f"{rest['row_writes_per_hour']:,.0f} / {rest['commits_per_hour']:,.0f}"],
            ["PostgreSQL connections max", f"{rest['pg_connections_max']}"],
            [
                "worker / PostgreSQL / emulator CPU, cores",
                f"{rest['worker_cpu_cores']:.3f} / {rest['postgres_cpu_cores']:.3f} / {rest['emulator_cpu_cores']:.3f}",
            ],
            [
                "hourly safety net would cost, worker cores",
                f"{rest['old_safety_net_cores']:.3f} ({rest['ratio']:.1f}x)",
            ],
        ],
    )
    print_table(
        f"(d) scaling at {args.scale_rate}/s offered, {args.scale_seconds:.0f} s each",
        [
            "W",
            "syncs/s",
            "worker CPU ms/sync",
            "drained before, s",
            "visible/s",
            "visible p50 s",
            "p99 s",
            "workers CPU",
            "postgres CPU",
            "emulator CPU",
            "api CPU",
            "machine busy",
        ],
        [
            [
                one["workers"],
                f"{one['syncs_per_s']:.1f}",
                f"{one['worker_cpu_ms_per_sync']:.1f}",
                f"{one['drain_before_s']:.0f}",
                f"{one['visible_per_s']:.1f}",
                f"{one['visible_p50']:.2f}",
                f"{one['visible_p99']:.2f}",
                *[
                    f"{one['cpu'][k] / one['cpu']['seconds']:.2f} cores"
                    for k in ("workers", "postgres", "emulator", "api")
                ],
                f"{one['cpu']['machine_busy_share']:.0%}",
            ]
            for one in r["scaling"]
        ],
    )
    print(f"\nemulator RSS at the end: {r['emulator_rss_mb']:.0f} MB; DB at the end {r['db_mb_end']:,.0f} MB")


def main() -> None:
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # as Ctrl-C: the cleanups run (processes, database)

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calendars", type=int, default=None, help="100,000 (--quick: 5,000)")
    parser.add_argument(
        "--backfill", type=int, default=None, help="calendars synced through the real path: 2,000 (200)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=20.0, help="platform changes a second in (b)")
    parser.add_argument("--steady-seconds", type=float, default=600.0)
    parser.add_argument("--burst-every", type=float, default=120.0, help="a compressed hour: 10x at its start")
    parser.add_argument("--burst-seconds", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=30.0, help="bound on waiting for the last changes")
    parser.add_argument("--rest-seconds", type=float, default=300.0)
    parser.add_argument("--scale-rate", type=float, default=150.0)
    parser.add_argument("--scale-seconds", type=float, default=60.0)
    parser.add_argument("--backfill-timeout", type=float, default=1800.0)
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="bound on waiting for a backlog to drain")
    parser.add_argument("--check-sample", type=int, default=1000, help="copies checked at once to cost one check")
    parser.add_argument("--copy-batch", type=int, default=2000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--quick", action="store_true", help="5,000 calendars, short phases (~5 min)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.quick:
        args.steady_seconds, args.rest_seconds, args.check_sample, args.drain_timeout = 40.0, 15.0, 150, 15.0
        args.burst_every, args.burst_seconds, args.scale_seconds, args.settle = 30.0, 3.0, 15.0, 10.0
    args.calendars = args.calendars or (5000 if args.quick else 100_000)
    args.backfill = args.backfill or (200 if args.quick else 2000)
    quiet_logs()
    pop = population(args.calendars, args.backfill)
    with spawn_emulator() as emulator:
        from calsync_emulator.client import SyncEmulatorControl

        started = time.monotonic()
        with SyncEmulatorControl(emulator.url, timeout=300) as control:
            today = control.now().date()
            for b in pop.buckets:
                control.seed(
                    seed=b.seed,
                    google_accounts=b.google,
                    microsoft_accounts=b.microsoft,
                    events_per_calendar=b.events,
                    recurring_per_calendar=b.recurring,
                    start=today,
                    days=21,
                    lazy=True,
                    distinct_accounts=b.templates,
                )
        print(f"seeded {pop.calendars:,} accounts in {time.monotonic() - started:.1f} s", flush=True)
        with bench_database("postgres", "scale", args.database_url) as db:
            result = asyncio.run(run(args, db.url, emulator, pop))
    emit_json(args.json, {"benchmark": "scale", "args": vars(args), "results": result})
    report(args, result)


if __name__ == "__main__":
    main()
