"""Worker CPU of one incremental sync, with and without a token refresh first (issue 24: the steady state's unit cost).

N calendars (half Google, half Microsoft, `--events` each, in calsync's window) are synced once by one
`calsync worker` process (push on: each gets its channel; a webhook subscribed to a receiver on 127.0.0.1 and one
bot rule active, as bench/scale.py runs production), then left to settle. Each round changes one event on every
calendar through the emulator's control API and makes every calendar due at once, as a push would; the round ends
when every calendar has synced again, the meetings it queued are evaluated and the webhooks it queued delivered.
With `--trickle R` the calendars fall due one at a time, R a second, as a steady stream of pushes makes them: each
change's sync, meetings and webhook then run (nearly) alone, as in bench/scale.py's steady phase, instead of
batched with every other change. Rounds alternate between:

- `cached`: the access token cached on the calendar row is still good (the sync lists with it);
- `refresh`: every cached token is marked expired first (`access_token_expires_at` in the past), so every sync
  refreshes its token before listing: what 90 % of the steady state's syncs do at 100,000 calendars.

Reported per sync (median over rounds): the worker's CPU (/proc, user + system), PostgreSQL's CPU (this database's
backends), the emulator's CPU and the provider calls by kind (from its counters: a `refresh` round must show one
token call per calendar, a `cached` round none), and syncs/s over the round. The worker's CPU is also split by
loop (sync, meetings, webhook delivery, bots; calsync.worker.loop_cpu, from its metrics port) when it has the meter.

    .venv/bin/python bench/sync_cost.py                                 # PostgreSQL, 200 calendars, 3 rounds each
    .venv/bin/python bench/sync_cost.py --db both --expire-tokens       # refresh rounds only
    .venv/bin/python bench/sync_cost.py --profile /tmp/sync.txt         # py-spy (pip install py-spy into .venv)
    .venv/bin/python bench/sync_cost.py --trickle 20                    # the steady state: 20 changes a second
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    REPO,
    ChildEmulator,
    bench_context,
    bench_database,
    calsync_env,
    cpu_seconds,
    database_kinds,
    emit_json,
    free_port,
    insert_calendars,
    loop_cpu,
    machine,
    new_tenant,
    postgres_cpu,
    postgres_cpu_since,
    print_table,
    quiet_logs,
    seed_in_window,
    seeded_accounts,
    spawn_calsync,
    spawn_emulator,
)
from bot_dispatch import Receiver, subscribe
from copied_state import seeded_calendar
from initial_sync import add_rules, evaluations_left
from scale import counters_by_kind

SEED = 31
TRIGGERS = ["calendar.events_update", "bot.dispatch", "bot.updated", "bot.state_change"]


async def scalar(context: Any, sql: str, **params: Any) -> Any:
    from sqlalchemy import text

    async with context.db.read() as session:
        return (await session.execute(text(sql), params)).scalar_one()


async def execute(context: Any, sql: str, **params: Any) -> None:
    from sqlalchemy import text

    from calsync.store.work_signal import SYNC_LOOP, notify_work_in_transaction

    async with context.db.write() as session:
        await session.execute(text(sql), params)
        # For the sync loop only, as the push receiver's NOTIFY (a NOTIFY for every loop would wake them all).
        await notify_work_in_transaction(session, SYNC_LOOP)


async def wait_until(context: Any, sql: str, target: int, bound: float, **params: Any) -> bool:
    started = time.monotonic()
    while time.monotonic() - started < bound:
        if int(await scalar(context, sql, **params)) >= target:
            return True
        await asyncio.sleep(0.1)
    return False


async def settled(context: Any, bound: float) -> None:
    """Until the meetings the syncs queued are evaluated and the webhooks they queued are delivered."""
    started = time.monotonic()
    while time.monotonic() - started < bound and (  # noqa: ASYNC110
        await evaluations_left(context) or await deliveries_left(context)
    ):
        await asyncio.sleep(0.2)


async def deliveries_left(context: Any) -> int:
    return int(
        await scalar(context, "SELECT count(*) FROM webhook_deliveries WHERE status IN ('pending', 'delivering')")
    )


async def targets(context: Any) -> list[tuple[str, str]]:
    """(emulator calendar, one single event's id) of every calendar."""
    from sqlalchemy import text

    async with context.db.read() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT DISTINCT ON (c.id) c.deduplication_key, e.platform_uuid FROM calendars c "
                    "JOIN calendar_events e ON e.calendar_id = c.id WHERE e.recurring_event_id IS NULL "
                    "AND NOT e.is_deleted AND NOT e.is_all_day ORDER BY c.id, e.platform_uuid"
                    if context.settings.database_url.startswith("postgresql")
                    else "SELECT c.deduplication_key, min(e.platform_uuid) FROM calendars c "
                    "JOIN calendar_events e ON e.calendar_id = c.id WHERE e.recurring_event_id IS NULL "
                    "AND NOT e.is_deleted AND NOT e.is_all_day GROUP BY c.id"
                )
            )
        ).all()
    return [(seeded_calendar(str(r[0])), str(r[1])) for r in rows]


async def change_all(emulator_url: str, changes: list[tuple[str, str]], title: str) -> None:
    from calsync_emulator.client import EmulatorControl

    async with EmulatorControl(emulator_url, timeout=60) as control:
        gate = asyncio.Semaphore(16)

        async def one(calendar: str, event: str) -> None:
            async with gate:
                await control.update_event(calendar, event, summary=title)

        await asyncio.gather(*(one(c, e) for c, e in changes))


async def drop_notifications(emulator_url: str) -> None:
    from calsync_emulator.client import EmulatorControl

    async with EmulatorControl(emulator_url, timeout=60) as control:
        await control.add_fault("drop_notifications")


async def one_round(
    args: argparse.Namespace,
    context: Any,
    emulator: ChildEmulator,
    worker_pid: int,
    changes: list[tuple[str, str]],
    mode: str,
    index: int,
    metrics_url: str,
) -> dict[str, Any]:
    n = len(changes)
    await change_all(emulator.url, changes, f"sync cost {mode} {index}")
    if mode == "refresh":
        await execute(context, "UPDATE calendars SET access_token_expires_at = :past", past=_past())
    calls0 = await counters_by_kind(emulator.url)
    await asyncio.sleep(0.5)  # the control calls' own work in the emulator is done
    worker0, emulator0, pg0 = cpu_seconds(worker_pid), cpu_seconds(emulator.pid), postgres_cpu()
    system0 = system_seconds(worker_pid)
    loops0 = loop_cpu(metrics_url)
    started_wall = time.monotonic()
    marker = await scalar(context, "SELECT max(last_successful_sync_at) FROM calendars")
    if args.trickle:
        await trickle(context, args.trickle)
    else:
        await execute(context, "UPDATE calendars SET sync_due_at = :now, sync_reason = 'push'", now=_now())
    done = await wait_until(
        context,
        "SELECT count(*) FROM calendars WHERE last_successful_sync_at > :marker",
        n,
        args.timeout,
        marker=marker,
    )
    synced_seconds = time.monotonic() - started_wall
    worker_synced = cpu_seconds(worker_pid) - worker0
    system_synced = system_seconds(worker_pid) - system0
    await settled(context, args.timeout)
    worker_total = cpu_seconds(worker_pid) - worker0
    loops1 = loop_cpu(metrics_url)
    emulator_cpu = cpu_seconds(emulator.pid) - emulator0
    pg_cpu = postgres_cpu_since(pg0) if context.settings.database_url.startswith("postgresql") else 0.0
    calls1 = await counters_by_kind(emulator.url)
    calls = {kind: calls1.get(kind, 0) - calls0.get(kind, 0) for kind in calls1}
    # Of the worker's CPU until every calendar synced and its meetings and webhooks were done, each loop's task
    # steps (calsync.worker.loop_cpu); `other` and the rest (event loop, socket callbacks) are what no loop's step ran.
    parts = {f"loop_{name}_ms_per_sync": (loops1[name] - loops0.get(name, 0.0)) / n * 1e3 for name in loops1}
    if parts:
        parts["loop_unattributed_ms_per_sync"] = worker_total / n * 1e3 - sum(parts.values())
    return {
        "mode": mode,
        "synced": done,
        "seconds": synced_seconds,
        "syncs_per_s": n / synced_seconds,
        # Until every calendar synced; the total adds the meetings' evaluation that the syncs queued.
        "worker_ms_per_sync": worker_synced / n * 1e3,
        "worker_total_ms_per_sync": worker_total / n * 1e3,
        # Of the worker's CPU until every calendar synced, the kernel's (sockets: loopback TCP to PostgreSQL).
        "worker_system_ms_per_sync": system_synced / n * 1e3,
        "postgres_ms_per_sync": pg_cpu / n * 1e3,
        "emulator_ms_per_sync": emulator_cpu / n * 1e3,
        "token_calls_per_sync": calls.get("token", 0) / n,
        "listings_per_sync": calls.get("listing", 0) / n,
        "other_calls_per_sync": sum(v for k, v in calls.items() if k not in ("token", "listing")) / n,
        "webhooks_per_sync": await scalar(
            context, "SELECT count(*) FROM webhook_deliveries WHERE created_at > :marker", marker=marker
        )
        / n,
        **parts,
    }


async def trickle(context: Any, rate: float) -> None:
    """Make the calendars due one at a time, `rate` a second, as the steady state's pushes do: each change's sync,
    meetings and webhook then run alone (or nearly), not batched with 199 others."""
    from sqlalchemy import text

    async with context.db.read() as session:
        ids = [int(i) for i in (await session.execute(text("SELECT id FROM calendars ORDER BY id"))).scalars()]
    started = time.monotonic()
    for index, calendar_id in enumerate(ids):
        await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
        await execute(
            context,
            "UPDATE calendars SET sync_due_at = :now, sync_reason = 'push' WHERE id = :id",
            now=_now(),
            id=calendar_id,
        )


def system_seconds(pid: int) -> float:
    """System CPU seconds of a process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[12]) / os.sysconf("SC_CLK_TCK")


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _past() -> Any:
    from datetime import timedelta

    return _now() - timedelta(hours=1)


@contextlib.contextmanager
def profiling(path: str | None, pid: int) -> Any:
    """py-spy samples the worker while the rounds run (only while it holds the GIL: a round trip's wait for a busy
    machine's scheduler is not the worker's CPU), into a flame graph, speedscope (.json) or collapsed stacks (.txt)."""
    if not path:
        yield
        return
    spy = REPO / ".venv/bin/py-spy"
    fmt = "speedscope" if path.endswith(".json") else "raw" if path.endswith(".txt") else "flamegraph"
    proc = subprocess.Popen(
        [str(spy), "record", "-p", str(pid), "-r", "200", "-f", fmt, "-o", path, "--nonblocking", "--gil"]
    )
    try:
        time.sleep(1.0)
        yield
    finally:
        proc.send_signal(2)
        proc.wait(timeout=60)


async def one_run(args: argparse.Namespace, database_url: str, emulator: ChildEmulator) -> list[dict[str, Any]]:
    from calsync.security.secret_box import generate_key

    key = generate_key()
    half = args.calendars // 2
    receiver = Receiver()
    receiver.start()
    try:
        async with bench_context(database_url, emulator.url, encryption_keys=key) as context:
            tenant = await new_tenant(context)
            await subscribe(context, tenant.project_id, receiver.url, TRIGGERS)
            await add_rules(context, tenant.project_id, 1)
            ids = await insert_calendars(
                context, tenant.project_id, seeded_accounts(SEED, half, args.calendars - half), due=None
            )
            port, metrics_port = free_port(), free_port()
            env = calsync_env(
                database_url,
                key,
                emulator.url,
                CALSYNC_PUBLIC_URL=f"http://127.0.0.1:{port}",
                CALSYNC_WEBHOOK_ALLOW_HTTP="true",
                CALSYNC_WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
                CALSYNC_DISABLE_RATE_LIMITING="true",
                CALSYNC_WORKER_METRICS_PORT=str(metrics_port),
                CALSYNC_WORKER_LOOP_CPU_METRICS="true",
            )
            # `calsync api` answers Graph's subscription validation; the rounds' own notifications are dropped, so
            # that every round's syncs start when this script makes the calendars due, under its meter.
            with spawn_calsync("api", env, port=port), spawn_calsync("worker", env) as worker:
                await execute(context, "UPDATE calendars SET sync_due_at = :now", now=_now())
                if not await wait_until(
                    context, "SELECT count(*) FROM calendars WHERE push_state = 'active'", len(ids), 300
                ):
                    raise RuntimeError("the first sync did not open every channel")
                await settled(context, 120)
                await drop_notifications(emulator.url)
                changes = await targets(context)
                assert len(changes) == len(ids), (len(changes), len(ids))
                metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
                modes = ["refresh"] if args.expire_tokens else ["cached", "refresh"]
                runs = []
                with profiling(args.profile, worker.pid):
                    for index in range(args.rounds):
                        for mode in modes:
                            run = await one_round(
                                args, context, emulator, worker.pid, changes, mode, index, metrics_url
                            )
                            print(f"{mode} round {index + 1}: {run}", flush=True)
                            runs.append(run)
                return runs
    finally:
        receiver.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calendars", type=int, default=200)
    parser.add_argument("--events", type=int, default=20, help="events per calendar, series included")
    parser.add_argument("--recurring", type=int, default=1, help="recurring series per calendar")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per mode")
    parser.add_argument("--expire-tokens", action="store_true", help="refresh rounds only (every sync refreshes)")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="postgres")
    parser.add_argument(
        "--trickle",
        type=float,
        default=0.0,
        help="make the calendars due one at a time, this many a second (the steady state), instead of all at once",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per round before giving up")
    parser.add_argument("--profile", default=None, help="py-spy the worker over the rounds into this file")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    quiet_logs()
    results: dict[str, dict[str, Any]] = {}
    with spawn_emulator() as emulator:
        seed_in_window(
            emulator.url, seed=SEED, calendars=args.calendars, events=args.events, recurring=args.recurring, lazy=False
        )
        for kind in database_kinds(args.db):
            with bench_database(kind, "synccost") as db:
                runs = asyncio.run(one_run(args, db.url, emulator))
            for mode in sorted({r["mode"] for r in runs}):
                mine = [r for r in runs if r["mode"] == mode]
                results[f"{kind} {mode}"] = {
                    key: statistics.median(float(r[key]) for r in mine)
                    for key in mine[0]
                    if isinstance(mine[0][key], int | float) and not isinstance(mine[0][key], bool)
                }
    m = machine()
    print(f"\nmachine: {m['nproc']} cores, {m['cpu']}, load {m['loadavg']}")
    print_table(
        f"One incremental sync, {args.calendars} calendars x {args.events} events, one worker (median of {args.rounds})"
        + (f", due {args.trickle:g} a second" if args.trickle else ", all due at once"),
        [
            "case",
            "worker ms",
            "of it system",
            "+ meetings ms",
            "PostgreSQL ms",
            "emulator ms",
            "syncs/s",
            "token calls",
            "listings",
        ],
        [
            [
                case,
                f"{r['worker_ms_per_sync']:.2f}",
                f"{r['worker_system_ms_per_sync']:.2f}",
                f"{r['worker_total_ms_per_sync']:.2f}",
                f"{r['postgres_ms_per_sync']:.2f}",
                f"{r['emulator_ms_per_sync']:.2f}",
                f"{r['syncs_per_s']:.1f}",
                f"{r['token_calls_per_sync']:.2f}",
                f"{r['listings_per_sync']:.2f}",
            ]
            for case, r in results.items()
        ],
    )
    parts = sorted({key for r in results.values() for key in r if key.startswith("loop_")})
    if parts:
        print_table(
            "Of the worker's CPU per sync (+ meetings and webhooks), by loop (ms; calsync.worker.loop_cpu)",
            ["case", *(key.removeprefix("loop_").removesuffix("_ms_per_sync") for key in parts), "webhooks"],
            [
                [case, *(f"{r.get(key, 0.0):.2f}" for key in parts), f"{r['webhooks_per_sync']:.2f}"]
                for case, r in results.items()
            ],
        )
    emit_json(args.json, {"benchmark": "sync_cost", "args": vars(args), "results": results})


if __name__ == "__main__":
    main()
