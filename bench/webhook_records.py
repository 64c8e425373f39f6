"""Which statement records a batch of webhook attempts cheapest on PostgreSQL, in one invocation.

    .venv/bin/python bench/webhook_records.py [--batches 150] [--runs 3]

The same record transactions (the attempt log plus the deliveries' new states, batches of 1 to 64 rows, seeded)
written three ways, runs alternating: a `VALUES` list joined into an `UPDATE … FROM` with a multi-row `INSERT`
(calsync before, whose SQL text differs with every batch size), one prepared `executemany` per statement (the
SQLite path), and one array per column joined in with `unnest` (calsync now, calsync/webhooks/bulk_postgres.py).
Prints the process CPU and wall time per transaction (median of the runs). A fresh database, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import cast, column, insert, select, update, values
from sqlalchemy.ext.asyncio import AsyncSession

sys.path.insert(0, str(Path(__file__).resolve().parent))

import webhook_delivery

from calsync.context import AppContext
from calsync.security.secret_box import generate_key
from calsync.settings import Settings
from calsync.store.migrate import upgrade
from calsync.store.models import WebhookDelivery, WebhookDeliveryAttempt
from calsync.webhooks import bulk_postgres, claims

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
Write = Callable[[AsyncSession, list[dict[str, Any]]], Awaitable[None]]


async def values_update(session: AsyncSession, changes: list[dict[str, Any]]) -> None:
    table = claims._TABLE
    names = bulk_postgres.SETTLE_COLUMNS
    recorded = values(*(column(n, table.c[n].type) for n in names), name="recorded").data(
        [tuple(change[n] for n in names) for change in changes]
    )
    typed = {n: cast(recorded.c[n], table.c[n].type) for n in names}
    await session.execute(update(table).where(table.c.id == typed["id"]).values(claims._settled_values(typed)))


async def multirow_insert(session: AsyncSession, log: list[dict[str, Any]]) -> None:
    await session.execute(insert(WebhookDeliveryAttempt), log)


WAYS: dict[str, tuple[Write, Write]] = {
    "VALUES list + multi-row INSERT (before)": (values_update, multirow_insert),
    "executemany (the SQLite path)": (claims._write_changes, multirow_insert),
    "unnest arrays (now)": (bulk_postgres.settle, bulk_postgres.log_attempts),
}


async def main(args: argparse.Namespace) -> None:
    name = f"calsync_bench_records_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    try:
        await asyncio.to_thread(upgrade, url)
        settings = Settings(
            database_url=url, data_dir=Path(tempfile.mkdtemp()), encryption_keys=generate_key(), log_level="WARNING"
        )
        context = AppContext.from_settings(settings)
        receiver = webhook_delivery.Receiver()
        await receiver.start()
        calendar = await webhook_delivery.make_project(context, "records", receiver.url)
        await webhook_delivery.enqueue(context, calendar, 2000)
        async with context.db.read() as session:
            ids = list((await session.execute(select(WebhookDelivery.id))).scalars())
        rng = random.Random(1)
        sizes = [rng.randint(1, 64) for _ in range(args.batches)]
        results: dict[str, list[tuple[float, float]]] = {way: [] for way in WAYS}
        for _ in range(args.runs):
            for way, (settle, log_attempts) in WAYS.items():
                now = datetime.now(UTC)
                cpu, wall = time.process_time(), time.perf_counter()
                for size in sizes:
                    batch = rng.sample(ids, size)
                    changes = [
                        {
                            "id": i,
                            "status": "succeeded",
                            "attempts": 1,
                            "last_attempt_at": now,
                            "last_status_code": 200,
                            "last_error": None,
                            "next_attempt_at": None,
                            "delivered_at": now,
                        }
                        for i in batch
                    ]
                    log = [
                        {
                            "delivery_id": i,
                            "attempted_at": now,
                            "status_code": 200,
                            "response_excerpt": "",
                            "error": None,
                            "duration_ms": 1.5,
                        }
                        for i in batch
                    ]
                    async with context.db.write() as session:
                        await log_attempts(session, log)
                        await settle(session, changes)
                cpu_ms = (time.process_time() - cpu) * 1000 / len(sizes)
                wall_ms = (time.perf_counter() - wall) * 1000 / len(sizes)
                results[way].append((cpu_ms, wall_ms))
        print(f"{len(sizes)} record transactions per run, {sum(sizes)} rows (batches of 1..64), {args.runs} runs")
        for way, runs in results.items():
            print(
                f"  {way:42s} CPU per transaction: median {statistics.median(c for c, _ in runs):.2f} ms "
                f"(runs {', '.join(f'{c:.2f}' for c, _ in runs)}); wall {statistics.median(w for _, w in runs):.2f} ms"
            )
        await receiver.stop()
        await context.aclose()
    finally:
        admin = await asyncpg.connect(ADMIN)
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=150)
    parser.add_argument("--runs", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
