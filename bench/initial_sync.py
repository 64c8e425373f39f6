"""Initial-sync throughput: events stored per second, end to end (design.md §7: at least 5,000 events/s).

N calendars (half Google, half Microsoft) of M events each (of which R recurring series, expanded into
instances) are seeded in the emulator, generated up front (`lazy=False`, so generation is not timed),
all inside calsync's window. Their calendar rows are inserted into a fresh calsync database, not yet due.
One `calsync worker` process (the production entry point, default `CALSYNC_WORKER_CONCURRENCY`=16) is
started; the clock starts when one UPDATE makes every calendar due, and stops at the newest
`last_successful_sync_at` once every calendar has synced. Rate = stored events / that interval.

The emulator runs in its own process, so calsync's worker has a core of its own (2-core machine: worker,
emulator and PostgreSQL share both).

    .venv/bin/python bench/initial_sync.py --db both                     # 20 x 500 (+5 series), 3 runs each
    .venv/bin/python bench/initial_sync.py --quick                       # 10 x 200, 1 run, SQLite
    .venv/bin/python bench/initial_sync.py --db both --compare-rules     # without and with 3 bot rules, alternately

With bot rules (`--rules 3`, or `--compare-rules` for runs without and with them, alternating in one invocation),
every project gets three active rules (calsync.meetings): the worker groups the synced events into meetings,
evaluates them and creates their bots. Besides the sync's own rate, the run reports the time until every queued
meeting was evaluated (`evaluated_seconds`): the rate over that time includes all of the meetings' work.
    .venv/bin/python bench/initial_sync.py --db postgres --database-url \
        postgresql+asyncpg://postgres@127.0.0.1:5432/calsync_bench_mine
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    ChildEmulator,
    bench_context,
    bench_database,
    calsync_env,
    cpu_seconds,
    database_kinds,
    emit_json,
    insert_calendars,
    machine,
    make_all_due,
    new_tenant,
    postgres_cpu,
    postgres_cpu_since,
    print_table,
    proc_status,
    quiet_logs,
    seed_in_window,
    seeded_accounts,
    spawn_calsync,
    spawn_emulator,
    stored_events,
    workers_idle,
)

SEED = 11


async def progress(context: Any, since: Any) -> tuple[int, int, Any]:
    from sqlalchemy import func, select

    from calsync.store.models import Calendar

    async with context.db.read() as session:
        row = (
            await session.execute(
                select(
                    func.count().filter(Calendar.last_successful_sync_at >= since),
                    func.count().filter(Calendar.consecutive_failures > 0),
                    func.max(Calendar.last_successful_sync_at),
                )
            )
        ).one()
    return int(row[0]), int(row[1]), row[2]


# Three rules as an application would set them: external meetings, reviews first, and big meetings of one tenant.
RULES: list[dict[str, Any]] = [
    {"name": "External", "event_selection": "external", "response": "not_declined"},
    {"name": "Reviews", "priority": 5, "title_include": ["review", "sync", "planning"], "bot_name": "Notes"},
    {"name": "Big", "priority": 1, "participants_gte": 3, "exclude_all_day": True, "title_exclude": ["lunch"]},
]


async def add_rules(context: Any, project_id: int, count: int) -> None:
    from calsync.api.rule_schemas import DEFAULTS
    from calsync.meetings.rule_store import new_rule

    async with context.db.write() as session:
        for values in RULES[:count]:
            session.add(new_rule(project_id, {**DEFAULTS, **values}, context.clock()))


async def evaluations_left(context: Any) -> int:
    from sqlalchemy import func, select

    from calsync.meetings.scan import events_behind
    from calsync.store.models import MeetingEvaluation

    async with context.db.read() as session:
        queued = int((await session.execute(select(func.count()).select_from(MeetingEvaluation))).scalar_one())
        return queued + await events_behind(session)


async def meeting_counts(context: Any) -> tuple[int, int]:
    from sqlalchemy import func, select

    from calsync.store.models import Bot, Meeting

    async with context.db.read() as session:
        meetings = int((await session.execute(select(func.count()).select_from(Meeting))).scalar_one())
        bots = int((await session.execute(select(func.count()).select_from(Bot))).scalar_one())
    return meetings, bots


async def one_run(
    args: argparse.Namespace, database_url: str, emulator: ChildEmulator, rules: int = 0, profiler: Any = None
) -> dict[str, Any]:
    """One run on a fresh database; `profiler` (`start(pids)`, `stop()`, bench/initial_sync_pipe.py) samples the
    workers from the clock's start until every calendar has synced."""
    from calsync.security.secret_box import generate_key

    key = generate_key()
    half = args.calendars // 2
    emulator_url = emulator.url
    async with bench_context(database_url, emulator_url, encryption_keys=key) as context:
        accounts = seeded_accounts(SEED, half, args.calendars - half)
        # Projects share nothing but each has its own change clock (calsync/sync/apply.py), which every write
        # of its events takes; `--projects` shows what that per-project serialisation costs.
        for project in range(args.projects):
            tenant = await new_tenant(context)
            await insert_calendars(context, tenant.project_id, accounts[project :: args.projects], due=None)
            await add_rules(context, tenant.project_id, rules)
        concurrency = {"CALSYNC_WORKER_CONCURRENCY": str(args.concurrency)} if args.concurrency else {}
        env = calsync_env(database_url, key, emulator_url, CALSYNC_WORKER_POLL_INTERVAL_SECONDS="0.2", **concurrency)
        with contextlib.ExitStack() as stack:
            # Several `calsync worker` processes share the work through leases, as in production.
            workers = [stack.enter_context(spawn_calsync("worker", env)) for _ in range(args.workers)]
            start_seconds = await workers_idle(workers)
            start_cpu = sum(cpu_seconds(w.pid) for w in workers)
            worker_cpu = sum(cpu_seconds(w.pid) for w in workers)
            emulator_cpu = cpu_seconds(emulator.pid)
            database_cpu = postgres_cpu()
            if profiler is not None:
                profiler.start([w.pid for w in workers])
            started = await make_all_due(context)
            wall = time.monotonic()
            done = failed = 0
            sync_cpu = sync_wall = float("nan")
            sync_database_cpu = 0.0  # SQLite: inside the worker
            newest = None
            peak_rss = 0.0
            while time.monotonic() - wall < args.timeout:
                await asyncio.sleep(0.25)
                done, failed, newest = await progress(context, started)
                peak_rss = max(peak_rss, *(proc_status(w.pid).get("VmRSS", 0.0) for w in workers))
                if done >= args.calendars:
                    # (the worker's CPU up to here is the sync's; what follows is the meetings' evaluation)
                    sync_cpu = sum(cpu_seconds(w.pid) for w in workers) - worker_cpu
                    sync_wall = time.monotonic() - wall
                    if database_url.startswith("postgresql"):
                        sync_database_cpu = postgres_cpu_since(database_cpu)
                    break
            if profiler is not None:
                profiler.stop()
            # The meetings the sync queued are evaluated by the same worker, concurrently and then after it.
            evaluated = None
            while time.monotonic() - wall < args.timeout * 2:
                if await evaluations_left(context) == 0:
                    evaluated = time.monotonic() - wall
                    break
                await asyncio.sleep(0.25)
            hwm = max(proc_status(w.pid).get("VmHWM", 0.0) for w in workers)
            worker_cpu = sum(cpu_seconds(w.pid) for w in workers) - worker_cpu
            emulator_cpu = cpu_seconds(emulator.pid) - emulator_cpu
            # SQLite runs inside the worker, so only a PostgreSQL server has CPU of its own to report.
            database_cpu_seconds = postgres_cpu_since(database_cpu) if database_url.startswith("postgresql") else 0.0
        events = await stored_events(context)
        meetings, bots = await meeting_counts(context)
    seconds = (newest - started).total_seconds() if newest is not None else float("nan")
    return {
        "rules": rules,
        "meetings": meetings,
        "bots": bots,
        # From the moment every calendar was made due (wall clock of this process, polled every 0.25 s).
        "evaluated_seconds": evaluated if evaluated is not None else float("nan"),
        "events_per_second_evaluated": events / evaluated if evaluated else 0.0,
        "calendars_synced": done,
        "calendars_failed": failed,
        "events_stored": events,
        "seconds": seconds,
        "events_per_second": events / seconds if seconds > 0 else 0.0,
        "worker_vmhwm_mb": hwm,
        # The start, before the clock: seconds until idle and the CPU it took.
        "worker_start_seconds": start_seconds,
        "worker_start_cpu_seconds": start_cpu,
        "worker_cpu_seconds": worker_cpu,
        "worker_sync_cpu_seconds": sync_cpu,
        # The worker's CPU over the wall time to the poll that saw every calendar synced: 1.0 is one core busy.
        "worker_sync_busy": sync_cpu / sync_wall,
        "postgres_sync_cpu_seconds": sync_database_cpu,
        "emulator_cpu_seconds": emulator_cpu,
        "postgres_cpu_seconds": database_cpu_seconds,
        "timed_out": done < args.calendars,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calendars", type=int, default=20)
    parser.add_argument("--events", type=int, default=500, help="events per calendar, series included")
    parser.add_argument("--recurring", type=int, default=5, help="recurring series per calendar")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="calsync worker processes")
    parser.add_argument("--concurrency", type=int, default=None, help="CALSYNC_WORKER_CONCURRENCY (default: calsync's)")
    parser.add_argument("--projects", type=int, default=1, help="projects the calendars are spread over")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per run before giving up")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (created if missing, then dropped)")
    parser.add_argument("--quick", action="store_true", help="10 calendars x 200 events, 1 run")
    parser.add_argument("--rules", type=int, default=0, choices=range(len(RULES) + 1), help="active bot rules")
    parser.add_argument(
        "--compare-rules", action="store_true", help="each repetition runs without rules, then with 3 (one invocation)"
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.quick:
        args.calendars, args.events, args.repeat = 10, 200, 1
    quiet_logs()

    results: dict[str, list[dict[str, Any]]] = {}
    with spawn_emulator() as emulator:
        seed_in_window(
            emulator.url, seed=SEED, calendars=args.calendars, events=args.events, recurring=args.recurring, lazy=False
        )
        variants = [0, len(RULES)] if args.compare_rules else [args.rules]
        for kind in database_kinds(args.db):
            for rep in range(args.repeat):
                # Alternating without and with rules, so that load changes on the machine hit both alike.
                for rules in variants:
                    label = f"{kind} {rules} rules" if args.compare_rules or rules else kind
                    with bench_database(kind, "initial", args.database_url) as db:
                        run = asyncio.run(one_run(args, db.url, emulator, rules))
                    print(f"{label} run {rep + 1}: {run}", flush=True)
                    results.setdefault(label, []).append(run)

    m = machine()
    print(f"\nmachine: {m['nproc']} cores, {m['cpu']}, {m['ram_gb']} GB")
    rows = []
    for kind, runs in results.items():
        rates = [r["events_per_second"] for r in runs]
        rows.append(
            [
                kind,
                f"{args.calendars} x {args.events} ({args.recurring} series)",
                f"{statistics.median(r['events_stored'] for r in runs):,.0f}",
                f"{statistics.median(r['seconds'] for r in runs):.2f}",
                f"{statistics.median(rates):,.0f}",
                " / ".join(f"{x:,.0f}" for x in rates),
                f"{statistics.median(rates) / 5000:.2f}",
                f"{max(r['worker_vmhwm_mb'] for r in runs):.0f}",
                f"{statistics.median(r['worker_cpu_seconds'] for r in runs):.1f}",
                f"{statistics.median(r['emulator_cpu_seconds'] for r in runs):.1f}",
                f"{statistics.median(r['postgres_cpu_seconds'] for r in runs):.1f}",
                f"{statistics.median(r['worker_cpu_seconds'] / r['events_stored'] * 1e6 for r in runs):.0f}",
                f"{statistics.median(r['worker_sync_cpu_seconds'] / r['events_stored'] * 1e6 for r in runs):.0f}",
                f"{statistics.median(r['evaluated_seconds'] for r in runs):.2f}",
                f"{statistics.median(r['events_per_second_evaluated'] for r in runs):,.0f}",
                f"{statistics.median(r['meetings'] for r in runs):,.0f} / {statistics.median(r['bots'] for r in runs):,.0f}",
            ]
        )
    print_table(
        "Initial sync, one worker process (median of runs)",
        [
            "db",
            "calendars x events",
            "events stored",
            "seconds",
            "events/s",
            "runs",
            "vs 5,000/s",
            "worker HWM MB",
            "worker CPU s",
            "emulator CPU s",
            "PostgreSQL CPU s",
            "worker CPU µs/event",
            "of it in the sync",
            "evaluated s",
            "events/s evaluated",
            "meetings / bots",
        ],
        rows,
    )
    emit_json(args.json, {"benchmark": "initial_sync", "args": vars(args), "results": results})


if __name__ == "__main__":
    main()
