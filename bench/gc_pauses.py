"""Garbage-collector pauses in an API process, by young-generation threshold (calsync/process_tuning.py).

A collection walks every object of the generations it collects, so the young-generation threshold sets how long
each pause is, and collections fall on whichever request's allocations trigger them. This runs the events
query (`calsync.store.queries.events.list_events`, the code behind `GET /api/v1/calendar_events`) in-process on
a small SQLite database, round-robin over many statement shapes (every ordering with the filters that make the
split and update-lag queries, with and without a seek key), once per threshold, each in a fresh subprocess so
that one threshold's heap does not carry over. `gc.callbacks` times every collection.

The database holds few rows on purpose: this measures the process, not the query. Latencies are per call of
list_events (no HTTP), so compare them between thresholds, not with docs/benchmarks.md §3.

    .venv/bin/python bench/gc_pauses.py                              # thresholds 700, 2000, 10000, 50000
    .venv/bin/python bench/gc_pauses.py --thresholds 2000 50000 --calls 6000
    .venv/bin/python bench/gc_pauses.py --quick
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import bench_context, emit_json, machine, new_tenant, pct, print_table


async def measure(threshold: int, calls: int) -> dict[str, Any]:
    from calsync.process_tuning import tune_garbage_collector
    from calsync.store.keyset import SeekKey
    from calsync.store.migrate import upgrade
    from calsync.store.queries.events import EventFilters, list_events

    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started: list[float] = []

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        else:
            pauses[info["generation"]].append((time.perf_counter() - started.pop()) * 1000)

    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{directory}/gc.sqlite"
        await asyncio.to_thread(upgrade, url)
        async with bench_context(url, None) as context:
            tenant = await new_tenant(context)
            now = datetime.now(UTC)
            shapes = [
                (filters, column, after)
                for column in ("created_at", "updated_at", "start_time", "end_time")
                for filters in (
                    EventFilters(),
                    EventFilters(updated_at_gte=now - timedelta(days=20)),
                    EventFilters(end_time_gte=now),
                    EventFilters(start_time_lte=now),
                    EventFilters(start_time_gte=now, end_time_lte=now + timedelta(days=1)),
                    EventFilters(is_deleted=True),
                    EventFilters(updated_at_gte=now - timedelta(days=1), is_deleted=True),
                )
                for after in (None, SeekKey(now - timedelta(days=40), 5))
            ]
            tune_garbage_collector(runs_worker=False)
            _young, middle, oldest = gc.get_threshold()
            gc.set_threshold(threshold, middle, oldest)
            gc.callbacks.append(timed)
            union: list[float] = []
            plain: list[float] = []
            for index in range(calls):
                filters, column, after = shapes[index % len(shapes)]
                begun = time.perf_counter()
                async with context.db.read() as session:
                    await list_events(
                        session,
                        tenant.project_id,
                        filters,
                        order_column=column,
                        descending=False,
                        after=after,
                        backwards=False,
                        limit=100,
                    )
                elapsed = (time.perf_counter() - begun) * 1000
                # The lag and running queries build an 11-branch statement: the most allocations per call.
                splits = (filters.updated_at_gte is not None and column == "created_at") or (
                    filters.end_time_gte is not None and column == "start_time"
                )
                (union if splits else plain).append(elapsed)
            gc.callbacks.remove(timed)
    return {
        "threshold": threshold,
        "calls": calls,
        "union_p50_ms": pct(union, 0.5),
        "union_p99_ms": pct(union, 0.99),
        "plain_p50_ms": pct(plain, 0.5),
        "plain_p99_ms": pct(plain, 0.99),
        "collections": {gen: len(times) for gen, times in pauses.items()},
        "pause_median_ms": {gen: statistics.median(times) if times else 0.0 for gen, times in pauses.items()},
        "pause_max_ms": {gen: max(times, default=0.0) for gen, times in pauses.items()},
        "gc_total_ms": sum(sum(times) for times in pauses.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--thresholds", type=int, nargs="+", default=[700, 2000, 10000, 50000])
    parser.add_argument("--calls", type=int, default=3000, help="list_events calls per threshold")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # run one threshold, print JSON
    parser.add_argument("--quick", action="store_true", help="thresholds 2,000 and 50,000, 600 calls each")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.quick:
        args.thresholds, args.calls = [2000, 50000], 600
    if args.one is not None:
        print(json.dumps(asyncio.run(measure(args.one, args.calls))))
        return
    results = []
    for threshold in args.thresholds:
        command = [sys.executable, __file__, "--one", str(threshold), "--calls", str(args.calls)]
        output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=600).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
    m = machine()
    print(f"machine: {m['nproc']} cores, {m['cpu']}, {m['ram_gb']} GB")
    rows = []
    for r in results:
        pauses = " / ".join(
            f"{r['collections'][gen]} x {r['pause_median_ms'][gen]:.2f} (max {r['pause_max_ms'][gen]:.1f})"
            for gen in ("0", "1", "2")
        )
        rows.append(
            [
                f"{r['threshold']:,}",
                f"{r['union_p50_ms']:.2f}",
                f"{r['union_p99_ms']:.2f}",
                f"{r['plain_p50_ms']:.2f}",
                f"{r['plain_p99_ms']:.2f}",
                pauses,
                f"{r['gc_total_ms']:.0f}",
            ]
        )
    print_table(
        f"list_events in-process, {args.calls} calls per threshold",
        [
            "young threshold",
            "union p50",
            "union p99",
            "plain p50",
            "plain p99",
            "collections: young / middle / full, ms",
            "GC ms",
        ],
        rows,
    )
    emit_json(args.json, {"benchmark": "gc_pauses", "results": results})


if __name__ == "__main__":
    main()
