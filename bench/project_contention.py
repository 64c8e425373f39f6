"""Syncs of one project on several `calsync worker` processes (PostgreSQL), with and without a webhook subscribed:
time until every calendar has synced, deadlocks, and how long sessions waited for locks.

N calendars (half Google, half Microsoft, seeded in the emulator) of M events each, all in one project, are made due
at once; W worker processes (concurrency C each) sync them. While they run, `pg_stat_activity` is sampled every
`--sample-ms` for sessions of the database waiting on a heavyweight lock (`wait_event_type = 'Lock'`): the number
of such sessions per sample is the measure of serialisation (mean, p99, max), and `pg_stat_database.deadlocks`
before/after counts deadlocks. f573745 had 149 deadlocks and 14 of 30 calendars synced after 151 s with a webhook.

    .venv/bin/python bench/project_contention.py                   # 30 x 200, 2 workers x 4, with and without webhook
    .venv/bin/python bench/project_contention.py --calendars 60 --workers 3 --repeat 3
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

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    ChildEmulator,
    _pg_admin_dsn,
    bench_context,
    bench_database,
    calsync_env,
    insert_calendars,
    machine,
    make_all_due,
    new_tenant,
    pct,
    print_table,
    quiet_logs,
    seed_in_window,
    seeded_accounts,
    spawn_calsync,
    spawn_emulator,
    stored_events,
)

SEED = 17


async def add_webhook(context: Any, project_id: int) -> None:
    """A subscription row as `POST /api/v1/webhooks` makes it; nothing listens (deliveries just retry)."""
    from calsync.ids import new_id
    from calsync.store.models import WebhookSubscription

    now = context.clock()
    async with context.db.write() as session:
        session.add(
            WebhookSubscription(
                object_id=new_id("whk_"),
                project_id=project_id,
                url="http://127.0.0.1:9/hook",
                triggers=["calendar.events_update", "calendar.state_change"],
                is_active=True,
                created_at=now,
                updated_at=now,
            )
        )


async def synced(context: Any, since: Any) -> tuple[int, int, Any]:
    from sqlalchemy import func, select

    from calsync.store.models import Calendar

    async with context.db.read() as session:
        row = (
            await session.execute(
                select(
                    func.count().filter(Calendar.last_successful_sync_at >= since),
                    func.count().filter(Calendar.last_sync_error.is_not(None)),
                    func.max(Calendar.last_successful_sync_at),
                )
            )
        ).one()
    return int(row[0]), int(row[1]), row[2]


async def one_run(
    args: argparse.Namespace, database_url: str, emulator: ChildEmulator, webhook: bool
) -> dict[str, Any]:
    from calsync.security.secret_box import generate_key

    key = generate_key()
    half = args.calendars // 2
    dsn, name = _pg_admin_dsn(database_url)
    monitor = await asyncpg.connect(dsn.rsplit("/", 1)[0] + f"/{name}")
    deadlocks_sql = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
    waiting_sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    try:
        async with bench_context(database_url, emulator.url, encryption_keys=key) as context:
            tenant = await new_tenant(context)
            await insert_calendars(
                context, tenant.project_id, seeded_accounts(SEED, half, args.calendars - half), due=None
            )
            if webhook:
                await add_webhook(context, tenant.project_id)
            env = calsync_env(
                database_url,
                key,
                emulator.url,
                CALSYNC_WORKER_POLL_INTERVAL_SECONDS="0.2",
                CALSYNC_WORKER_CONCURRENCY=str(args.concurrency),
            )
            with contextlib.ExitStack() as stack:
                for _ in range(args.workers):
                    stack.enter_context(spawn_calsync("worker", env))
                await asyncio.sleep(2.0)
                deadlocks_before = await monitor.fetchval(deadlocks_sql)
                started = await make_all_due(context)
                wall = time.monotonic()
                samples: list[int] = []
                done = failed = 0
                newest = None
                next_check = wall
                while time.monotonic() - wall < args.timeout:
                    samples.append(int(await monitor.fetchval(waiting_sql)))
                    await asyncio.sleep(args.sample_ms / 1000)
                    if time.monotonic() >= next_check:
                        next_check += 0.25
                        done, failed, newest = await synced(context, started)
                        if done >= args.calendars:
                            break
                deadlocks = int(await monitor.fetchval(deadlocks_sql)) - int(deadlocks_before)
            events = await stored_events(context)
    finally:
        await monitor.close()
    seconds = (newest - started).total_seconds() if newest is not None else float("nan")
    return {
        "webhook": webhook,
        "calendars_synced": done,
        "calendars_with_error": failed,
        "events_stored": events,
        "seconds": seconds,
        "deadlocks": deadlocks,
        "lock_wait_mean": statistics.fmean(samples) if samples else 0.0,
        "lock_wait_p99": pct(samples, 0.99),
        "lock_wait_max": max(samples, default=0),
        "samples": len(samples),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calendars", type=int, default=30)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--sample-ms", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    quiet_logs()

    runs: list[dict[str, Any]] = []
    with spawn_emulator() as emulator:
        seed_in_window(emulator.url, seed=SEED, calendars=args.calendars, events=args.events, recurring=2, lazy=False)
        for _ in range(args.repeat):
            for webhook in (False, True):
                with bench_database("postgres", "contention", args.database_url) as db:
                    run = asyncio.run(one_run(args, db.url, emulator, webhook))
                print(run, flush=True)
                runs.append(run)

    m = machine()
    print(f"\nmachine: {m['nproc']} cores, {m['cpu']}, {m['ram_gb']} GB")
    rows = []
    for webhook in (False, True):
        mine = [r for r in runs if r["webhook"] is webhook]
        rows.append(
            [
                "yes" if webhook else "no",
                f"{args.calendars} x {args.events}",
                f"{args.workers} x {args.concurrency}",
                f"{statistics.median(r['calendars_synced'] for r in mine):.0f}",
                f"{statistics.median(r['seconds'] for r in mine):.2f}",
                f"{sum(r['deadlocks'] for r in mine)}",
                f"{sum(r['calendars_with_error'] for r in mine)}",
                f"{statistics.median(r['lock_wait_mean'] for r in mine):.3f}",
                f"{statistics.median(r['lock_wait_p99'] for r in mine):.0f}",
                f"{max(r['lock_wait_max'] for r in mine)}",
            ]
        )
    print_table(
        "One project on several worker processes (PostgreSQL; median of runs)",
        [
            "webhook",
            "calendars x events",
            "workers x concurrency",
            "synced",
            "seconds",
            "deadlocks",
            "with error",
            "sessions waiting on a lock (mean)",
            "p99",
            "max",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
