"""Storage and WAL per event on PostgreSQL: the unit costs docs/capacity.md multiplies.

A database of its own is filled by a real initial sync (`bench/initial_sync.py`: N calendars of M emulator events,
Google and Microsoft, one `calsync worker`), then measured:

- bytes per stored event, in `calendar_events` (heap, TOAST and every index) and in all of calsync's tables
  together (meetings, outbox rows, calendars), from `pg_total_relation_size`;
- WAL bytes per event written, from `EXPLAIN (ANALYZE, WAL)` of the statements a sync runs, in transactions that
  are rolled back: an update of K events as an incremental sync writes it (new content, stamp and change number),
  and the insert of K new events. The server's own WAL counters would count every other database on a shared server.

    .venv/bin/python bench/storage_cost.py                   # 20 x 500 events, ~1 min
    .venv/bin/python bench/storage_cost.py --calendars 40
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PG_SERVER, _pg_admin_dsn, bench_database, emit_json, machine, print_table

SIZES = """
SELECT c.relname, pg_total_relation_size(c.oid) AS total, pg_relation_size(c.oid) AS heap,
       pg_indexes_size(c.oid) AS indexes
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind = 'r'
"""

# What an incremental sync's write does to a changed event: new content, a new stamp and change number.
UPDATE = """
EXPLAIN (ANALYZE, WAL, FORMAT JSON)
UPDATE calendar_events SET name = name || ' (moved)', start_time = start_time + interval '1 hour',
    end_time = end_time + interval '1 hour', content_hash = md5(content_hash), updated_at = now(),
    change_seq = change_seq + 1000000000
WHERE id IN (SELECT id FROM calendar_events ORDER BY id LIMIT $1 OFFSET $2)
"""

# New events, as a first sync of a calendar writes them (copies of stored rows with new keys).
INSERT = """
EXPLAIN (ANALYZE, WAL, FORMAT JSON)
INSERT INTO calendar_events
SELECT (jsonb_populate_record(e, jsonb_build_object(
    'id', e.id + 1000000000, 'object_id', 'evt_w' || e.id, 'platform_uuid', e.platform_uuid || '-copy',
    'change_seq', e.change_seq + 1000000000))).*
FROM calendar_events e WHERE e.id < 1000000000 ORDER BY e.id LIMIT $1 OFFSET $2
"""


async def wal_bytes(connection: asyncpg.Connection, sql: str, rows: int) -> tuple[int, int]:
    """WAL of the statement on rows of pages not yet written since the last checkpoint (full-page images
    included: the worst case), then on the next rows, whose pages the first run wrote already (the steady case of
    a busy table between checkpoints)."""
    async with connection.transaction():
        first = json.loads(await connection.fetchval(sql, rows, 0))[0]["Plan"].get("WAL Bytes", 0)
        steady = json.loads(await connection.fetchval(sql, rows, rows))[0]["Plan"].get("WAL Bytes", 0)
        # Roll back: the measurement leaves the table as the sync left it.
        raise Rollback(first, steady)


class Rollback(Exception):
    def __init__(self, first: int, steady: int) -> None:
        super().__init__(first, steady)
        self.first, self.steady = first, steady


async def measure(url: str, rows: int) -> dict[str, Any]:
    dsn, name = _pg_admin_dsn(url)
    connection = await asyncpg.connect(dsn.rsplit("/", 1)[0] + f"/{name}")
    try:
        events = int(await connection.fetchval("SELECT count(*) FROM calendar_events"))
        sizes = {r["relname"]: dict(r) for r in await connection.fetch(SIZES)}
        out: dict[str, Any] = {"events": events}
        for kind, sql in (("update", UPDATE), ("insert", INSERT)):
            try:
                await wal_bytes(connection, sql, rows)
            except Rollback as done:
                out[f"wal_bytes_per_{kind}"] = done.steady / rows
                out[f"wal_bytes_per_{kind}_with_page_images"] = done.first / rows
    finally:
        await connection.close()
    table = sizes["calendar_events"]
    out |= {
        "event_table_bytes_per_event": table["total"] / events,
        "event_heap_bytes_per_event": table["heap"] / events,
        "event_index_bytes_per_event": table["indexes"] / events,
        "all_tables_bytes_per_event": sum(s["total"] for s in sizes.values()) / events,
        "largest_tables": sorted(
            ({"name": n, "bytes_per_event": s["total"] / events} for n, s in sizes.items()),
            key=lambda item: -item["bytes_per_event"],
        )[:6],
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calendars", type=int, default=20)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--rows", type=int, default=1000, help="events per measured statement")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    url = f"{PG_SERVER}/calsync_bench_storage_{abs(hash(str(args))) % 10**6}"
    with bench_database("postgres", "storage", url) as db:
        here = Path(__file__).resolve().parent
        subprocess.run(
            [
                *(sys.executable, str(here / "initial_sync.py"), "--db", "postgres", "--repeat", "1"),
                *("--calendars", str(args.calendars), "--events", str(args.events), "--database-url", db.url),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        result = asyncio.run(measure(db.url, args.rows))
    m = machine()
    print(f"machine: {m['nproc']} cores, {m['cpu']}, load {m['loadavg']}")
    print_table(
        f"Storage and WAL per event (PostgreSQL, {result['events']} events from a real initial sync)",
        [
            "calendar_events bytes/event (heap + indexes)",
            "all tables bytes/event",
            "WAL per update (with page images)",
            "WAL per insert (with page images)",
        ],
        [
            [
                f"{result['event_table_bytes_per_event']:.0f} ({result['event_heap_bytes_per_event']:.0f} + "
                f"{result['event_index_bytes_per_event']:.0f})",
                f"{result['all_tables_bytes_per_event']:.0f}",
                f"{result['wal_bytes_per_update']:.0f} B ({result['wal_bytes_per_update_with_page_images']:.0f})",
                f"{result['wal_bytes_per_insert']:.0f} B ({result['wal_bytes_per_insert_with_page_images']:.0f})",
            ]
        ],
    )
    print("largest tables, bytes per event:", result["largest_tables"])
    emit_json(args.json, {"args": vars(args), "results": result})


if __name__ == "__main__":
    main()
