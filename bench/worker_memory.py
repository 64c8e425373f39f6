"""Worker memory with 10,000 connected calendars (design.md §7: under 300 MB RSS).

10,000 accounts (half Google, half Microsoft, one calendar each, M events) are seeded in the emulator
with `lazy=True` (a calendar's events are generated on its first access), and 10,000 calendar rows are
inserted into a fresh calsync database in bulk, not yet due. One `calsync worker` process (the production
entry point, default concurrency 16) starts; its VmRSS is read from /proc/<pid>/status while it idles, then
while it makes one sync pass over every calendar (all made due by one UPDATE; bounded by --timeout), and
after; VmHWM is the kernel's peak RSS of that process over its whole life. The emulator runs in its own
process, so its memory is not counted.

    .venv/bin/python bench/worker_memory.py                    # 10,000 calendars x 20 events, SQLite
    .venv/bin/python bench/worker_memory.py --db postgres
    .venv/bin/python bench/worker_memory.py --quick            # 2,000 calendars
"""

from __future__ import annotations

import argparse
import asyncio
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
    print_table,
    proc_status,
    quiet_logs,
    seed_in_window,
    seeded_accounts,
    spawn_calsync,
    spawn_emulator,
    stored_events,
)

SEED = 21
TARGET_MB = 300.0


async def progress(context: Any, since: Any) -> tuple[int, int]:
    from sqlalchemy import func, select

    from calsync.store.models import Calendar

    async with context.db.read() as session:
        row = (
            await session.execute(
                select(
                    func.count().filter(Calendar.last_successful_sync_at >= since),
                    func.count().filter(Calendar.last_attempted_sync_at >= since),
                )
            )
        ).one()
    return int(row[0]), int(row[1])


async def one_run(args: argparse.Namespace, database_url: str, emulator: ChildEmulator) -> dict[str, Any]:
    from calsync.security.secret_box import generate_key

    key = generate_key()
    half = args.calendars // 2
    async with bench_context(database_url, emulator.url, encryption_keys=key) as context:
        tenant = await new_tenant(context)
        await insert_calendars(context, tenant.project_id, seeded_accounts(SEED, half, args.calendars - half), due=None)
        env = calsync_env(database_url, key, emulator.url, CALSYNC_WORKER_POLL_INTERVAL_SECONDS="0.5")
        samples: list[tuple[float, int, float]] = []
        with spawn_calsync("worker", env) as worker:
            await asyncio.sleep(3.0)
            idle = proc_status(worker.pid)
            cpu0 = cpu_seconds(worker.pid)
            started = await make_all_due(context)
            wall = time.monotonic()
            synced = attempted = 0
            while time.monotonic() - wall < args.timeout:
                await asyncio.sleep(1.0)
                synced, attempted = await progress(context, started)
                samples.append((time.monotonic() - wall, synced, proc_status(worker.pid).get("VmRSS", 0.0)))
                if attempted >= args.calendars:
                    break
            elapsed = time.monotonic() - wall
            cpu = cpu_seconds(worker.pid) - cpu0
            await asyncio.sleep(3.0)
            after = proc_status(worker.pid)
        events = await stored_events(context)
    return {
        "calendars": args.calendars,
        "calendars_synced": synced,
        "calendars_attempted": attempted,
        "events_stored": events,
        "pass_seconds": elapsed,
        "worker_cpu_seconds": cpu,
        "idle_rss_mb": idle.get("VmRSS", 0.0),
        "peak_rss_during_pass_mb": max((s[2] for s in samples), default=0.0),
        "rss_after_pass_mb": after.get("VmRSS", 0.0),
        "vmhwm_mb": after.get("VmHWM", 0.0),
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calendars", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=20, help="events per calendar, series included")
    parser.add_argument("--recurring", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=300.0, help="bound of the sync pass, seconds")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--quick", action="store_true", help="2,000 calendars, 120 s")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.quick:
        args.calendars, args.timeout = 2000, 120.0
    quiet_logs()

    results: dict[str, dict[str, Any]] = {}
    with spawn_emulator() as emulator:
        seed_in_window(
            emulator.url, seed=SEED, calendars=args.calendars, events=args.events, recurring=args.recurring, lazy=True
        )
        for kind in database_kinds(args.db):
            with bench_database(kind, "memory", args.database_url) as db:
                results[kind] = asyncio.run(one_run(args, db.url, emulator))
            r = results[kind]
            print(f"{kind}: { ({k: v for k, v in r.items() if k != 'samples'}) }", flush=True)

    m = machine()
    print(f"\nmachine: {m['nproc']} cores, {m['cpu']}, {m['ram_gb']} GB")
    rows = [
        [
            kind,
            f"{r['calendars_synced']:,} / {r['calendars']:,}",
            f"{r['events_stored']:,}",
            f"{r['pass_seconds']:.0f}",
            f"{r['idle_rss_mb']:.0f}",
            f"{r['peak_rss_during_pass_mb']:.0f}",
            f"{r['rss_after_pass_mb']:.0f}",
            f"{r['vmhwm_mb']:.0f}",
            "ok" if r["vmhwm_mb"] < TARGET_MB else "MISS",
        ]
        for kind, r in results.items()
    ]
    print_table(
        "calsync worker memory, one sync pass",
        ["db", "synced", "events", "pass s", "idle RSS MB", "peak RSS MB", "after RSS MB", "VmHWM MB", "<300MB"],
        rows,
    )
    emit_json(args.json, {"benchmark": "worker_memory", "args": vars(args), "results": results})


if __name__ == "__main__":
    main()
