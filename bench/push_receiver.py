"""The API's CPU per push notification: `calsync api` receiving Google notifications for calendars with open channels.

A push notification is the API's commonest request under load (one per platform change; in a top-of-the-hour
burst, hundreds a second), and the API answers it by authenticating the channel and moving its calendar's due time
(calsync.push.receiver). This measures what one costs the `calsync api` process: `--channels` calendars with a
Google channel each are stored directly (no emulator, no worker: nothing syncs them), then `--notifications`
POSTs to the Google receiver path go out at `--concurrency` from this process (aiohttp), each for a random channel
with its right token. Reported: the API's CPU per notification (/proc CPU time of its processes over the run), PostgreSQL
CPU per notification, requests/s and the client-side latency percentiles; every calendar notified is checked to be
due afterwards. Rounds alternate databases; medians over `--rounds`.

    flock /tmp/bench.lock .venv/bin/python bench/push_receiver.py --db postgres
    PATH=$PATH:/path/to/py-spy/bin .venv/bin/python bench/push_receiver.py --rounds 1 --profile /tmp/pushprof
    .venv/bin/python bench/compare_revisions.py --old /tmp/calsync-old -- push_receiver.py --db postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    bench_context,
    bench_database,
    calsync_env,
    cpu_seconds,
    database_kinds,
    emit_json,
    free_port,
    insert_calendars,
    machine,
    median,
    new_tenant,
    pct,
    postgres_cpu,
    postgres_cpu_since,
    print_table,
    quiet_logs,
    spawn_calsync,
    with_children,
)


def system_seconds(pid: int) -> float:
    """System (kernel) CPU seconds a process has used so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[12]) / os.sysconf("SC_CLK_TCK")


def channel_token(index: int) -> str:
    return f"bench-token-{index:08d}"


async def store_channels(database_url: str, key: str, count: int) -> None:
    """`count` connected Google calendars, not due, each with an active channel `ch-<i>` and its token's digest."""
    from sqlalchemy import insert

    from calsync.store.models import PushChannel
    from calsync.sync.channels import token_digest

    async with bench_context(database_url, None, encryption_keys=key) as context:
        tenant = await new_tenant(context)
        accounts = [
            ("google", {"account_id": f"acct-{i}", "client_id": "cid", "client_secret": "s", "refresh_token": "r"})
            for i in range(count)
        ]
        ids = await insert_calendars(context, tenant.project_id, accounts, due=None)
        now = datetime.now(UTC)
        rows = [
            {
                "calendar_id": calendar_id,
                "platform": "google",
                "channel_id": f"ch-{i}",
                "resource_id": f"res-{i}",
                "token_hash": token_digest(channel_token(i)),
                "expires_at": now + timedelta(days=7),
                "created_at": now,
                "status": "active",
            }
            for i, calendar_id in enumerate(ids)
        ]
        for start in range(0, len(rows), 2000):
            async with context.db.write() as session:
                await session.execute(insert(PushChannel), rows[start : start + 2000])


async def notified_and_due(database_url: str, key: str, channels: set[int]) -> int:
    """How many of the notified channels' calendars are due now (each must be)."""
    from sqlalchemy import func, select

    from calsync.store.models import Calendar, PushChannel

    names = [f"ch-{i}" for i in channels]
    async with bench_context(database_url, None, encryption_keys=key) as context, context.db.read() as session:
        statement = (
            select(func.count())
            .select_from(Calendar)
            .join(PushChannel, PushChannel.calendar_id == Calendar.id)
            .where(PushChannel.channel_id.in_(names), Calendar.sync_due_at.is_not(None))
        )
        return int((await session.execute(statement)).scalar_one())


async def send(url: str, count: int, channels: int, concurrency: int, seed: int) -> tuple[list[float], set[int], int]:
    """POST `count` notifications; the latencies, the channels notified and the non-200 answers."""
    import aiohttp

    from calsync.sync.channels import GOOGLE_PATH

    rng = random.Random(seed)
    picks = [rng.randrange(channels) for _ in range(count)]
    latencies: list[float] = []
    failures = 0
    queue = iter(picks)

    async def sender(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        for index in queue:
            headers = {
                "X-Goog-Channel-ID": f"ch-{index}",
                "X-Goog-Channel-Token": channel_token(index),
                "X-Goog-Resource-State": "exists",
                "X-Goog-Resource-ID": f"res-{index}",
                "X-Goog-Message-Number": "2",
            }
            t0 = time.perf_counter()
            async with session.post(f"{url}{GOOGLE_PATH}", headers=headers) as response:
                await response.read()
                failures += response.status != 200
            latencies.append(time.perf_counter() - t0)

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(sender(session) for _ in range(concurrency)))
    return latencies, set(picks), failures


@contextlib.contextmanager
def sampled(pid: int, path: Path | None) -> Iterator[None]:
    """py-spy on the API's first process while the block runs (collapsed stacks in `path`), or nothing without a path."""
    if path is None:
        yield
        return
    command = ["py-spy", "record", "--pid", str(pid), "--format", "raw", "--rate", "250", "--nonblocking"]
    spy = subprocess.Popen([*command, "--output", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=30)


def one_round(kind: str, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    from calsync.security.secret_box import generate_key

    key = generate_key()
    with bench_database(kind, "push") as db:
        asyncio.run(store_channels(db.url, key, args.channels))
        port = free_port()
        env = calsync_env(db.url, key, None, CALSYNC_DISABLE_RATE_LIMITING="true")
        with spawn_calsync("api", env, port=port) as api:
            url = f"http://127.0.0.1:{port}"
            # A warm-up (connections, prepared statements, imports on first use), not counted.
            asyncio.run(send(url, min(500, args.notifications), args.channels, args.concurrency, seed + 1))
            pids = with_children(api.pid)  # (two server processes by default on PostgreSQL)
            sys0 = sum(system_seconds(pid) for pid in pids)
            cpu0 = sum(cpu_seconds(pid) for pid in pids)
            pg0, t0 = postgres_cpu() if kind == "postgres" else {}, time.perf_counter()
            profile = args.profile / f"api-{kind}-{seed}.txt" if args.profile else None
            with sampled(api.pid, profile):
                latencies, notified, failures = asyncio.run(
                    send(url, args.notifications, args.channels, args.concurrency, seed)
                )
            elapsed = time.perf_counter() - t0
            api_cpu = sum(cpu_seconds(pid) for pid in pids) - cpu0
            api_system = sum(system_seconds(pid) for pid in pids) - sys0
            pg_cpu = postgres_cpu_since(pg0) if kind == "postgres" else float("nan")
        due = asyncio.run(notified_and_due(db.url, key, notified))
    n = args.notifications
    return {
        "db": kind,
        "notifications_per_s": n / elapsed,
        "api_cpu_ms_per_notification": 1000 * api_cpu / n,
        "api_system_ms_per_notification": 1000 * api_system / n,  # (of it, in the kernel: sockets, mostly)
        "postgres_cpu_ms_per_notification": 1000 * pg_cpu / n,
        "latency_p50_ms": 1000 * pct(latencies, 0.5),
        "latency_p99_ms": 1000 * pct(latencies, 0.99),
        "failed": failures,
        "notified_calendars": len(notified),
        "notified_and_due": due,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="postgres")
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument("--notifications", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", default=None)
    parser.add_argument("--profile", type=Path, default=None, help="py-spy (on PATH) the API in each round, into DIR")
    args = parser.parse_args()
    quiet_logs()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    for round_index in range(args.rounds):
        for kind in database_kinds(args.db):
            result = one_round(kind, args, seed=round_index)
            print(result, flush=True)
            runs.append(result)
    summary = []
    for kind in database_kinds(args.db):
        mine = [r for r in runs if r["db"] == kind]
        summary.append({key: (median([r[key] for r in mine]) if key != "db" else kind) for key in mine[0]})
    print_table(
        f"calsync api receiving Google push notifications ({args.channels} channels, {args.notifications} "
        f"notifications, {args.concurrency} in flight; medians of {args.rounds})",
        ["db", "notifications/s", "api CPU ms each", "PostgreSQL CPU ms each", "p50 ms", "p99 ms", "failed", "due"],
        [
            [
                s["db"],
                f"{s['notifications_per_s']:.0f}",
                f"{s['api_cpu_ms_per_notification']:.2f}",
                f"{s['postgres_cpu_ms_per_notification']:.2f}",
                f"{s['latency_p50_ms']:.1f}",
                f"{s['latency_p99_ms']:.1f}",
                f"{s['failed']:.0f}",
                f"{s['notified_and_due']:.0f} of {s['notified_calendars']:.0f}",
            ]
            for s in summary
        ],
    )
    emit_json(args.json, {"machine": machine(), "args": vars(args), "runs": runs, "summary": summary})


if __name__ == "__main__":
    main()
