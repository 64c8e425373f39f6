"""The commit ceiling of one project on W worker processes (PostgreSQL): how many event-writing transactions per
second the project's change clock lets through, and how long they wait for it.

N calendars of one project (a webhook subscribed, so every page also writes its outbox row as in production) are
loaded with E events each. Then, for each W in `--workers`, W child processes (each a calsync context of its own,
as `calsync worker` builds it) keep C calendars each busy with small incremental syncs for `--seconds`: every
iteration is the real write transaction of one sync page (the fence on the calendar, the features' hooks, the
page compared with what is stored, the change clock, the rows, the commit: `SyncEngine._apply`), changing
`--changes` events of one calendar. No provider call is made: the platform's side costs nothing here, so what
is left is what the database and the clock allow (this 2-core machine's CPU included, which the table shows).

Measured per W: commits/s of those transactions (and events written/s), the time each waited for the clock
(`take_change_clock`, `lock_change_clock` in revisions before the change horizon) and held it (clock taken →
commit returned), the share of the run during which any transaction held it (the union of the holds: with the
project row's lock they never overlap, so commits/s ÷ that share is the ceiling the lock allows), the sessions
waiting on a heavyweight lock (`pg_stat_activity`, sampled every 20 ms), worker and PostgreSQL CPU per commit
(this database's backends only).

`--clock-only` measures the clock alone instead, the old one (the project row's UPDATE, held to the commit) and
the new one (calsync.store.change_horizon's registration) alternately in one invocation: N connections of one
process each commit BEGIN; the clock; one INSERT; COMMIT in a loop. That is the most one project's commits can be
on this machine with each clock, the syncs' own CPU left out.

    .venv/bin/python bench/commit_ceiling.py                      # W = 1, 2, 4; 10 s each; ~1.5 min
    .venv/bin/python bench/commit_ceiling.py --quick              # W = 1, 2; 3 s each
    .venv/bin/python bench/commit_ceiling.py --clock-only         # 1, 8, 32 writers; 5 s each
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    _pg_admin_dsn,
    bench_context,
    bench_database,
    cpu_seconds,
    emit_json,
    insert_calendars,
    machine,
    new_tenant,
    pct,
    postgres_cpu,
    print_table,
    quiet_logs,
    seeded_accounts,
)

SEED = 23
KEY_ENV = "CALSYNC_BENCH_KEY"


def page(calendar_id: int, events: int, version: int, changed: range) -> list[Any]:
    """The calendar's events as a platform lists them; those in `changed` carry `version` in their title."""
    from calsync.providers.base import NormalizedEvent

    base = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=2)
    out = []
    for i in range(events):
        start = base + timedelta(hours=i % 200)
        title = f"meeting {i} v{version}" if i in changed else f"meeting {i}"
        out.append(
            NormalizedEvent(
                platform_uuid=f"c{calendar_id}-e{i}",
                is_deleted=False,
                start_time=start,
                end_time=start + timedelta(minutes=30),
                name=title,
                status="confirmed",
                organizer={"email": f"owner{calendar_id}@example.com", "name": None},
                meeting_url=f"https://meet.google.com/abc-{calendar_id:04d}-{i:03d}",
                meeting_platform="google_meet",
                raw={"id": f"c{calendar_id}-e{i}", "summary": title},
            )
        )
    return out


# --- the child: one worker process ---------------------------------------------------------------------------


async def child(args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import update

    from calsync.store.models import Calendar
    from calsync.sync import apply
    from calsync.sync.apply import plan_page, write_page
    from calsync.sync.fence import Fence
    from calsync.sync.hooks import EventsListed, PageWritten

    calendar_ids = [int(x) for x in args.child_calendars.split(",")]
    worker_id = f"ceiling-{os.getpid()}"
    locked_at: dict[int, float] = {}
    waits: list[float] = []
    holds: list[float] = []
    # (taken, committed) of each hold, on the machine's monotonic clock: the parent merges every worker's.
    spans: list[tuple[float, float]] = []
    name = "take_change_clock" if hasattr(apply, "take_change_clock") else "lock_change_clock"
    original = getattr(apply, name)

    async def timed_lock(session: Any, *args: Any) -> Any:
        asked = time.perf_counter()
        clock = await original(session, *args)
        locked_at[id(session)] = time.perf_counter()
        waits.append(locked_at[id(session)] - asked)
        return clock

    setattr(apply, name, timed_lock)
    async with bench_context(args.database_url, None, encryption_keys=os.environ[KEY_ENV]) as context:
        async with context.db.write() as session:
            await session.execute(
                update(Calendar)
                .where(Calendar.id.in_(calendar_ids))
                .values(lease_owner=worker_id, lease_expires_at=datetime.now(UTC) + timedelta(hours=1))
            )
        fence = Fence(context, worker_id)
        hooks = context.hooks
        commits = events_written = 0
        stop_at = 0.0

        async def one_calendar(calendar_id: int) -> None:
            nonlocal commits, events_written
            version = 0
            while time.time() < stop_at:
                version += 1
                first = (version * args.changes) % args.events
                listed = page(calendar_id, args.events, version, range(first, first + args.changes))
                changed = listed[first : first + args.changes]
                sessions: list[int] = []

                async def write(
                    session: Any, calendar: Any, changed: list[Any] = changed, sessions: list[int] = sessions
                ) -> int:
                    sessions.append(id(session))
                    now = context.clock()
                    await hooks.publish(session, EventsListed(calendar, changed, now))
                    plan = await plan_page(session, calendar, changed, [])
                    await hooks.publish(session, PageWritten(calendar, plan, now))
                    await write_page(session, calendar, plan, now)
                    return len(plan.inserts) + len(plan.updates)

                written = await fence.write(calendar_id, write, "apply_page")
                done = time.perf_counter()
                taken = locked_at.pop(sessions[-1], None) if sessions else None
                if taken is not None:
                    holds.append(done - taken)
                    if time.time() < stop_at:
                        spans.append((taken, done))
                commits += 1
                events_written += written

        # Ready; the parent answers with the start time once every worker is (a slow start-up shortens no run).
        print("ready", flush=True)
        start = float(await asyncio.to_thread(sys.stdin.readline))
        stop_at = start + args.seconds
        await asyncio.sleep(max(0.0, start - time.time()))
        cpu_before = cpu_seconds()
        await asyncio.gather(*(one_calendar(c) for c in calendar_ids))
        cpu = cpu_seconds() - cpu_before
    return {"commits": commits, "events": events_written, "cpu": cpu, "waits": waits, "holds": holds, "spans": spans}


# --- the parent ----------------------------------------------------------------------------------------------


def covered(spans: list[tuple[float, ...]]) -> float:
    """Seconds covered by the union of the (start, end) spans."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


# The clock alone, as the old and the new code take it: the project row's UPDATE (held to the commit) and the
# writer's registration (calsync.store.change_horizon). Each transaction also inserts one row, so that its commit
# flushes WAL as an event write's does.
OLD_CLOCK = (
    "UPDATE projects SET change_seq = change_seq + $2, "
    "events_clock = GREATEST($3::timestamptz, events_clock + interval '1 microsecond') "
    "WHERE id = $1 RETURNING change_seq, events_clock"
)
MICROS_NOW = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint"
SCRATCH = "CREATE TABLE IF NOT EXISTS ceiling_rows (id bigserial PRIMARY KEY, project_id bigint, stamp timestamptz)"


async def clock_alone(database_url: str, variant: str, connections: int, seconds: float) -> dict[str, Any]:
    """`connections` concurrent writers of one project, each committing BEGIN; the clock; one INSERT; COMMIT in a
    loop for `seconds`: the most commits/s the clock lets one project make on this machine."""
    import asyncpg

    from calsync.store import change_horizon

    dsn, name = _pg_admin_dsn(database_url)
    dsn = dsn.rsplit("/", 1)[0] + f"/{name}"
    setup = await asyncpg.connect(dsn)
    try:
        await setup.execute(SCRATCH)
        project_id = await setup.fetchval(
            "INSERT INTO projects (object_id, name, created_at, change_seq) "
            "VALUES ('proj_' || substr(md5(random()::text), 1, 16), 'ceiling', now(), 0) RETURNING id"
        )
    finally:
        await setup.close()
    pool = [await asyncpg.connect(dsn) for _ in range(connections)]
    register = change_horizon.register_sql("$1")
    commits = 0
    holds: list[float] = []
    stop_at = time.monotonic() + seconds

    async def writer(connection: Any) -> None:
        nonlocal commits
        while time.monotonic() < stop_at:
            transaction = connection.transaction()
            await transaction.start()
            if variant == "old":
                _, stamp = await connection.fetchrow(OLD_CLOCK, project_id, 3, datetime.now(UTC))
            else:
                stamp, _ = await connection.fetchrow(register, 3)
            taken = time.perf_counter()
            await connection.execute("INSERT INTO ceiling_rows (project_id, stamp) VALUES ($1, $2)", project_id, stamp)
            await transaction.commit()
            holds.append(time.perf_counter() - taken)
            commits += 1

    reads: list[float] = []
    lags: list[float] = []
    # A poller beside the new clock's writers: the horizon's round trip, and how far behind the clock it is (a row
    # is listed by stamp that long after its writer took its stamp, at most).
    lag_sql = f"SELECT {MICROS_NOW} - h.stamp FROM ({change_horizon.HORIZON_SQL}) AS h"

    async def poller(connection: Any) -> None:
        while time.monotonic() < stop_at:
            asked = time.perf_counter()
            lag = await connection.fetchval(lag_sql)
            reads.append(time.perf_counter() - asked)
            lags.append(lag / 1000)
            await asyncio.sleep(0.01)  # ~100 polls a second, an API under load, not a loop hogging a core

    reader = await asyncpg.connect(dsn) if variant == "new" else None
    cpu_before = cpu_seconds()
    pg_before = postgres_cpu()
    started = time.monotonic()
    try:
        await asyncio.gather(*(writer(connection) for connection in pool), *([poller(reader)] if reader else []))
    finally:
        elapsed = time.monotonic() - started
        ours = await backend_pids(database_url)
        pg = sum(seconds - pg_before.get(pid, 0.0) for pid, seconds in postgres_cpu().items() if pid in ours)
        for connection in [*pool, *([reader] if reader else [])]:
            await connection.close()
    return {
        "name": f"{variant} clock, {connections} conn",
        "variant": variant,
        "connections": connections,
        "commits_per_s": commits / elapsed,
        "hold_ms_p50": pct(holds, 0.5) * 1000,
        "hold_ms_mean": statistics.fmean(holds) * 1000 if holds else 0.0,
        "one_over_mean_hold": 1 / statistics.fmean(holds) if holds else float("nan"),
        "horizon_reads": len(reads),
        "horizon_read_ms_p50": pct(reads, 0.5) * 1000 if reads else 0.0,
        "horizon_read_ms_p99": pct(reads, 0.99) * 1000 if reads else 0.0,
        "horizon_lag_ms_p50": pct(lags, 0.5) if lags else 0.0,
        "horizon_lag_ms_p99": pct(lags, 0.99) if lags else 0.0,
        "client_cpu_ms_per_commit": (cpu_seconds() - cpu_before) / max(commits, 1) * 1000,
        "postgres_cpu_ms_per_commit": pg / max(commits, 1) * 1000,
        "loadavg": os.getloadavg()[0],
    }


async def load(args: argparse.Namespace, database_url: str, key: str) -> tuple[int, list[int]]:
    """One project, a webhook subscribed, N calendars with E events each, written through the sync's own path."""
    from project_contention import add_webhook

    from calsync.store.models import Calendar
    from calsync.sync.apply import apply_page

    async with bench_context(database_url, None, encryption_keys=key) as context:
        tenant = await new_tenant(context)
        half = args.calendars // 2
        ids = await insert_calendars(
            context, tenant.project_id, seeded_accounts(SEED, half, args.calendars - half), due=None
        )
        await add_webhook(context, tenant.project_id)
        for calendar_id in ids:
            async with context.db.write() as session:
                calendar = await session.get(Calendar, calendar_id)
                assert calendar is not None
                await apply_page(session, calendar, page(calendar_id, args.events, 0, range(0)), [], context.clock())
    return tenant.project_id, ids


async def sample_lock_waits(database_url: str, stop: asyncio.Event, samples: list[int]) -> None:
    import asyncpg

    dsn, name = _pg_admin_dsn(database_url)
    monitor = await asyncpg.connect(dsn.rsplit("/", 1)[0] + f"/{name}")
    sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    try:
        while not stop.is_set():
            samples.append(int(await monitor.fetchval(sql)))
            await asyncio.sleep(0.02)
    finally:
        await monitor.close()


async def backend_pids(database_url: str) -> set[int]:
    import asyncpg

    dsn, name = _pg_admin_dsn(database_url)
    monitor = await asyncpg.connect(dsn)
    try:
        rows = await monitor.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", name)
    finally:
        await monitor.close()
    return {int(row["pid"]) for row in rows}


def one_w(args: argparse.Namespace, database_url: str, key: str, ids: list[int], workers: int) -> dict[str, Any]:
    per = args.concurrency
    chosen = ids[: workers * per]
    env = {**os.environ, KEY_ENV: key}
    procs = []
    for w in range(workers):
        mine = ",".join(str(c) for c in chosen[w * per : (w + 1) * per])
        command = [sys.executable, __file__, "--child-calendars", mine]
        command += ["--database-url", database_url, "--seconds", str(args.seconds)]
        command += ["--events", str(args.events), "--changes", str(args.changes)]
        procs.append(subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env))
    for proc in procs:
        assert proc.stdout is not None and proc.stdin is not None
        if proc.stdout.readline().strip() != b"ready":
            raise SystemExit("a worker failed to start")
    start = time.time() + 0.5
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(f"{start}\n".encode())
        proc.stdin.flush()

    async def watch() -> tuple[list[int], float]:
        samples: list[int] = []
        stop = asyncio.Event()
        await asyncio.sleep(max(0.0, start - time.time()))
        pg_before = postgres_cpu()
        sampler = asyncio.create_task(sample_lock_waits(database_url, stop, samples))
        await asyncio.sleep(args.seconds)
        # Only this database's backends: the server is shared with whatever else runs on the machine.
        ours = await backend_pids(database_url)
        pg = sum(seconds - pg_before.get(pid, 0.0) for pid, seconds in postgres_cpu().items() if pid in ours)
        stop.set()
        await sampler
        return samples, pg

    samples, pg_cpu = asyncio.run(watch())
    results = []
    for proc in procs:
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.wait(timeout=120)
        if proc.returncode != 0:
            raise SystemExit(f"a worker failed ({proc.returncode})")
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    commits = sum(r["commits"] for r in results)
    waits = [x for r in results for x in r["waits"]]
    holds = [x for r in results for x in r["holds"]]
    busy = covered([tuple(span) for r in results for span in r["spans"]])
    worker_cpu = sum(r["cpu"] for r in results)
    return {
        "name": f"W={workers}",
        "workers": workers,
        "syncs_in_flight": len(chosen),
        "commits": commits,
        "commits_per_s": commits / args.seconds,
        "events_per_s": sum(r["events"] for r in results) / args.seconds,
        "clock_wait_ms_p50": pct(waits, 0.5) * 1000,
        "clock_wait_ms_p99": pct(waits, 0.99) * 1000,
        "clock_wait_share": sum(waits) / (len(chosen) * args.seconds),
        "clock_hold_ms_p50": pct(holds, 0.5) * 1000,
        "clock_hold_ms_p99": pct(holds, 0.99) * 1000,
        "clock_held_share": sum(holds) / args.seconds,
        "clock_bound_commits_per_s": 1000 / (statistics.fmean(holds) * 1000) if holds else float("nan"),
        # The share of the run during which at least one transaction held the clock (taken → committed). With the
        # project row's lock the holds never overlap, and commits/s ÷ this share is the ceiling the lock allows;
        # held_share / busy_share > 1 means holds overlapped, i.e. the clock serialised nothing.
        "clock_busy_share": busy / args.seconds,
        "holds_overlapping": (sum(holds) / busy) if busy else 0.0,
        "implied_ceiling_commits_per_s": commits / busy if busy else float("nan"),
        "lock_waiters_mean": statistics.fmean(samples) if samples else 0.0,
        "lock_waiters_max": max(samples, default=0),
        "worker_cpu_ms_per_commit": worker_cpu / max(commits, 1) * 1000,
        "postgres_cpu_ms_per_commit": pg_cpu / max(commits, 1) * 1000,
        "loadavg": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="1,2,4", help="W values, comma-separated")
    parser.add_argument("--concurrency", type=int, default=8, help="calendars each worker keeps busy at once")
    parser.add_argument("--events", type=int, default=40, help="events per calendar")
    parser.add_argument("--changes", type=int, default=3, help="events each sync changes")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--peak", type=float, default=200.0, help="commits/s the deployment needs at peak")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", default=None)
    parser.add_argument(
        "--clock-only",
        action="store_true",
        help="measure the clock alone instead: the old (project row) and the new (registration) clock, alternately",
    )
    parser.add_argument("--clock-connections", default="1,8,32", help="concurrent writers for --clock-only")
    parser.add_argument("--clock-seconds", type=float, default=5.0)
    parser.add_argument("--child-calendars", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    quiet_logs()
    if args.child_calendars:
        print(json.dumps(asyncio.run(child(args))), flush=True)
        return
    if args.quick:
        args.workers, args.seconds = "1,2", 3.0
    from calsync.security.secret_box import generate_key

    if args.clock_only:
        clock_only(args)
        return
    ws = [int(w) for w in args.workers.split(",")]
    args.calendars = max(ws) * args.concurrency
    key = generate_key()
    runs = []
    with bench_database("postgres", "ceiling", args.database_url) as db:
        _, ids = asyncio.run(load(args, db.url, key))
        for workers in ws:
            run = one_w(args, db.url, key, ids, workers)
            print(run, flush=True)
            runs.append(run)

    m = machine()
    print(f"\nmachine: {m['nproc']} cores, {m['cpu']}, {m['ram_gb']} GB, load {m['loadavg']}")
    print_table(
        f"One project's event-writing commits ({args.changes} changed events each, PostgreSQL; "
        f"peak need assumed {args.peak:.0f}/s)",
        [
            "W",
            "in flight",
            "commits/s",
            "events/s",
            "clock wait p50/p99 ms",
            "clock held p50/p99 ms",
            "clock held (sum) / busy (union)",
            "implied ceiling",
            "1 / mean hold",
            "waiting on a lock (mean/max)",
            "worker/PG CPU ms per commit",
            "ceiling / peak",
        ],
        [
            [
                r["workers"],
                r["syncs_in_flight"],
                f"{r['commits_per_s']:.0f}",
                f"{r['events_per_s']:.0f}",
                f"{r['clock_wait_ms_p50']:.2f} / {r['clock_wait_ms_p99']:.1f}",
                f"{r['clock_hold_ms_p50']:.2f} / {r['clock_hold_ms_p99']:.1f}",
                f"{r['clock_held_share']:.0%} / {r['clock_busy_share']:.0%}",
                f"{r['implied_ceiling_commits_per_s']:.0f}/s",
                f"{r['clock_bound_commits_per_s']:.0f}/s",
                f"{r['lock_waiters_mean']:.2f} / {r['lock_waiters_max']}",
                f"{r['worker_cpu_ms_per_commit']:.2f} / {r['postgres_cpu_ms_per_commit']:.2f}",
                f"{r['commits_per_s'] / args.peak:.1f}x",
            ]
            for r in runs
        ],
    )
    emit_json(args.json, {"args": vars(args), "results": runs})


def clock_only(args: argparse.Namespace) -> None:
    runs = []
    with bench_database("postgres", "ceiling_clock", args.database_url) as db:
        for connections in [int(c) for c in args.clock_connections.split(",")]:
            for variant in ("old", "new"):
                run = asyncio.run(clock_alone(db.url, variant, connections, args.clock_seconds))
                print(run, flush=True)
                runs.append(run)
    m = machine()
    print(f"\nmachine: {m['nproc']} cores, {m['cpu']}, {m['ram_gb']} GB, load {m['loadavg']}")
    print_table(
        "One project's commits with the clock alone (BEGIN; clock; one INSERT; COMMIT), PostgreSQL",
        [
            "clock",
            "writers",
            "commits/s",
            "hold p50 / mean ms",
            "1 / mean hold",
            "client / PG CPU ms per commit",
            "horizon read p50 / p99 ms",
            "horizon lag p50 / p99 ms",
        ],
        [
            [
                r["variant"],
                r["connections"],
                f"{r['commits_per_s']:.0f}",
                f"{r['hold_ms_p50']:.2f} / {r['hold_ms_mean']:.2f}",
                f"{r['one_over_mean_hold']:.0f}/s",
                f"{r['client_cpu_ms_per_commit']:.2f} / {r['postgres_cpu_ms_per_commit']:.2f}",
                f"{r['horizon_read_ms_p50']:.2f} / {r['horizon_read_ms_p99']:.2f}" if r["horizon_reads"] else "-",
                f"{r['horizon_lag_ms_p50']:.2f} / {r['horizon_lag_ms_p99']:.2f}" if r["horizon_reads"] else "-",
            ]
            for r in runs
        ],
    )
    emit_json(args.json, {"args": vars(args), "results": runs})


if __name__ == "__main__":
    main()
