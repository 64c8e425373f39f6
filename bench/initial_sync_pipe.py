"""Initial sync against the raw pipe, in one invocation (issue 23, item 4: calsync at least 0.5 of the pipe).

The **raw pipe** is the least work that moves the same emulator pages into a table of the same shape: a bare loop
in this process that, for each seeded calendar, refreshes its token, fetches its pages with aiohttp (the fastest
client, docs/benchmarks.md §14) at calsync's page sizes (Google `maxResults` 2,500, Graph `odata.maxpagesize` 100),
following `nextPageToken` / `@odata.nextLink`, with as many calendars in flight as calsync's worker syncs at once
(`CALSYNC_WORKER_CONCURRENCY`, 16), decodes each page with orjson, maps each item to the event columns with no
more than the table needs (times parsed, JSON columns as they came, no meeting-URL search, no digest, no
bounding of `raw`) and writes them in batches of up to 1,000 (calsync's) by binary COPY (asyncpg
`copy_records_to_table`) on a pool of 10 connections (calsync's budget) into `pipe_events`, made by
`CREATE TABLE pipe_events (LIKE calendar_events INCLUDING ALL)` (every column, default and index; LIKE copies no
foreign key). On SQLite the pipe writes by executemany on one connection (WAL, as calsync's), into a table
made from calendar_events' own DDL and indexes.

**calsync** is bench/initial_sync.py's run, unchanged: one `calsync worker` process syncing the same calendars
from the moment they are made due. Rounds alternate pipe and calsync, each on a fresh database, and the table
gives the medians, both rates and their ratio.

    .venv/bin/python bench/initial_sync_pipe.py                       # PostgreSQL, 20 x 500 (+5 series), 3 rounds
    .venv/bin/python bench/initial_sync_pipe.py --db both --rounds 5
    .venv/bin/python bench/initial_sync_pipe.py --profile /tmp/pipeprof    # + py-spy on calsync's worker, one run
    .venv/bin/python bench/initial_sync_pipe.py --quick               # 10 x 200, 1 round

With `--profile DIR`, py-spy (`pip install py-spy`) samples the worker during the first calsync run of each
database (`py-spy record --format raw`), and the script prints the share of the worker's samples spent under
each step of a sync (inclusive, so the rows overlap), which is where calsync's time goes beyond the pipe's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    bench_database,
    cpu_seconds,
    database_kinds,
    emit_json,
    machine,
    postgres_cpu,
    postgres_cpu_since,
    print_table,
    quiet_logs,
    seed_in_window,
    seeded_accounts,
    spawn_emulator,
)
from initial_sync import SEED, one_run

# calsync's own numbers, so the pipe asks for what calsync asks for.
WORKER_CONCURRENCY = 16  # calsync.settings: worker_concurrency
DB_CONNECTIONS = 10  # calsync.settings: db pool size + overflow
BATCH_EVENTS = 1000  # calsync.sync.batching.APPLY_BATCH_EVENTS

# --- the raw pipe --------------------------------------------------------------------------------------------


def _instant(value: Any) -> datetime | None:
    """A platform time as aware UTC: Google `{"dateTime"}` / `{"date"}`, Graph `{"dateTime", "timeZone": "UTC"}`."""
    if not isinstance(value, dict):
        return None
    if text := value.get("dateTime"):
        parsed = datetime.fromisoformat(text)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if day := value.get("date"):
        parsed_day = date.fromisoformat(day)
        return datetime(parsed_day.year, parsed_day.month, parsed_day.day, tzinfo=UTC)
    return None


# The event's columns the platforms' items fill, in the order the mappings below give them.
EVENT_COLUMNS = (
    "platform_uuid",
    "name",
    "start_time",
    "end_time",
    "is_all_day",
    "time_zone",
    "status",
    "location",
    "organizer",
    "attendees",
    "ical_uid",
    "recurring_event_id",
    "html_link",
    "raw",
)
# The pipe's row: those, then what a row must have (ids, a constant digest, one stamp, a change number);
# span_class and update_lag_class take their defaults.
PIPE_COLUMNS = (
    *EVENT_COLUMNS,
    "object_id",
    "project_id",
    "calendar_id",
    "is_deleted",
    "content_hash",
    "created_at",
    "updated_at",
    "change_seq",
)
JSON_POSITIONS = tuple(EVENT_COLUMNS.index(name) for name in ("organizer", "attendees", "raw"))
TIME_POSITIONS = tuple(EVENT_COLUMNS.index(name) for name in ("start_time", "end_time"))


def google_columns(item: dict[str, Any]) -> list[Any] | None:
    if item.get("status") == "cancelled":
        return None
    start = item.get("start") or {}
    return [
        item["id"],
        item.get("summary"),
        _instant(start),
        _instant(item.get("end")),
        "date" in start,
        start.get("timeZone"),
        item.get("status"),
        item.get("location"),
        item.get("organizer"),
        item.get("attendees") or [],
        item.get("iCalUID"),
        item.get("recurringEventId"),
        item.get("htmlLink"),
        item,
    ]


def graph_columns(item: dict[str, Any]) -> list[Any] | None:
    if "@removed" in item or item.get("isCancelled"):
        return None
    location = item.get("location")
    return [
        item["id"],
        item.get("subject"),
        _instant(item.get("start")),
        _instant(item.get("end")),
        bool(item.get("isAllDay")),
        item.get("originalStartTimeZone"),
        "confirmed",
        location.get("displayName") if isinstance(location, dict) else None,
        item.get("organizer"),
        item.get("attendees") or [],
        item.get("iCalUId"),
        item.get("seriesMasterId"),
        item.get("webLink"),
        item,
    ]


@dataclass
class PipeTarget:
    """Where the pipe writes: a batch of records (in PIPE_COLUMNS order) in one transaction."""

    kind: str
    url: str
    pool: Any = None
    sqlite: Any = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def open(self) -> None:
        if self.kind == "postgres":
            import asyncpg

            self.pool = await asyncpg.create_pool(
                _asyncpg_dsn(self.url), min_size=DB_CONNECTIONS, max_size=DB_CONNECTIONS
            )
            async with self.pool.acquire() as conn:
                await conn.execute("CREATE TABLE pipe_events (LIKE calendar_events INCLUDING ALL)")
            return
        import aiosqlite

        self.sqlite = await aiosqlite.connect(self.url.split("///", 1)[1])
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL"):
            await self.sqlite.execute(f"PRAGMA {pragma}")
        # The same table and indexes as calendar_events (their DDL, renamed); foreign keys stay off, as in COPY's table.
        rows = await self.sqlite.execute_fetchall(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'calendar_events' AND sql IS NOT NULL"
        )
        for (ddl,) in rows:
            await self.sqlite.execute(
                ddl.replace("calendar_events", "pipe_events").replace(" ix_events_", " ix_pipe_events_")
            )
        await self.sqlite.commit()

    async def write(self, records: list[tuple[Any, ...]]) -> None:
        if self.pool is not None:
            async with self.pool.acquire() as conn:
                await conn.copy_records_to_table("pipe_events", records=records, columns=PIPE_COLUMNS)
            return
        # One writer at a time, as SQLite allows; each batch its own transaction, as calsync's are.
        placeholders = ", ".join("?" for _ in PIPE_COLUMNS)
        async with self.lock:
            await self.sqlite.executemany(
                f"INSERT INTO pipe_events ({', '.join(PIPE_COLUMNS)}) VALUES ({placeholders})", records
            )
            await self.sqlite.commit()

    async def count(self) -> int:
        if self.pool is not None:
            async with self.pool.acquire() as conn:
                return int(await conn.fetchval("SELECT count(*) FROM pipe_events"))
        rows = await self.sqlite.execute_fetchall("SELECT count(*) FROM pipe_events")
        return int(rows[0][0])

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
        if self.sqlite is not None:
            await self.sqlite.close()


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


class Pipe:
    """The bare loop: token, pages, rows, COPY; nothing else."""

    def __init__(self, emulator_url: str, target: PipeTarget, now: datetime) -> None:
        from calsync.providers import google, microsoft
        from calsync.settings import Settings
        from calsync.sync.window import sync_window

        base = emulator_url.rstrip("/")
        start, end = sync_window(now, Settings(database_url="sqlite+aiosqlite://"))
        self.google_token_url = f"{base}/google/token"
        self.google_list = f"{base}/google/calendar/v3/calendars/primary/events"
        self.google_params = {
            "singleEvents": "true",
            "maxResults": str(google.PAGE_SIZE),
            "showDeleted": "true",
            "timeMin": google.rfc3339(start),
            "timeMax": google.rfc3339(end),
        }
        self.graph_token_url = f"{base}/microsoft/login/common/oauth2/v2.0/token"
        self.graph_scope = microsoft.SCOPE
        self.graph_list = f"{base}/microsoft/graph/v1.0/me/calendarView/delta"
        self.graph_params = {
            "startDateTime": microsoft.graph_datetime(start),
            "endDateTime": microsoft.graph_datetime(end),
        }
        self.graph_prefer = f'outlook.timezone="UTC", odata.maxpagesize={microsoft.DEFAULT_PAGE_SIZE}'
        self.target = target
        self.now = now
        self.seq = 0
        self.pages = 0

    async def run(self, accounts: Sequence[tuple[str, dict[str, str]]], concurrency: int) -> None:
        import aiohttp

        gate = asyncio.Semaphore(concurrency)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as http:

            async def one(index: int, platform: str, credentials: dict[str, str]) -> None:
                async with gate:
                    await self.calendar(http, index, platform, credentials)

            await asyncio.gather(*(one(i, p, c) for i, (p, c) in enumerate(accounts)))

    async def calendar(self, http: Any, index: int, platform: str, credentials: dict[str, str]) -> None:
        import orjson

        form = {
            "grant_type": "refresh_token",
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
            "refresh_token": credentials["refresh_token"],
        }
        google = platform == "google"
        if not google:
            form["scope"] = self.graph_scope
        async with http.post(self.google_token_url if google else self.graph_token_url, data=form) as response:
            token = orjson.loads(await response.read())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        if not google:
            headers["Prefer"] = self.graph_prefer
        url: str | None = self.google_list if google else self.graph_list
        params: dict[str, str] | None = dict(self.google_params if google else self.graph_params)
        records: list[tuple[Any, ...]] = []
        while url is not None:
            async with http.get(url, params=params, headers=headers) as response:
                response.raise_for_status()
                body = orjson.loads(await response.read())
            self.pages += 1
            for item in body.get("items" if google else "value") or ():
                columns = google_columns(item) if google else graph_columns(item)
                if columns is not None:
                    records.append(self.record(columns, index))
            if len(records) >= BATCH_EVENTS:
                await self.target.write(records)
                records = []
            if google:
                if page_token := body.get("nextPageToken"):
                    params = {**self.google_params, "pageToken": page_token}
                else:
                    url = None
            else:
                url, params = body.get("@odata.nextLink"), None
        if records:
            await self.target.write(records)

    def record(self, values: list[Any], calendar: int) -> tuple[Any, ...]:
        import orjson

        self.seq += 1
        for position in JSON_POSITIONS:
            values[position] = orjson.dumps(values[position]).decode()
        stamp: Any = self.now
        if self.target.kind == "sqlite":
            # SQLite stores naive UTC text, as calsync's column type writes it.
            for position in TIME_POSITIONS:
                values[position] = values[position].replace(tzinfo=None).isoformat(" ", "microseconds")
            stamp = self.now.replace(tzinfo=None).isoformat(" ", "microseconds")
        return (*values, f"evt_pipe{self.seq}", 1, calendar, False, "", stamp, stamp, self.seq)


async def pipe_run(args: argparse.Namespace, kind: str, database_url: str, emulator: Any) -> dict[str, Any]:
    half = args.calendars // 2
    accounts = seeded_accounts(SEED, half, args.calendars - half)
    target = PipeTarget(kind, database_url)
    await target.open()
    try:
        pipe = Pipe(emulator.url, target, datetime.now(UTC))
        own_cpu, emulator_cpu, database_cpu = cpu_seconds(), cpu_seconds(emulator.pid), postgres_cpu()
        started = time.monotonic()
        await pipe.run(accounts, args.concurrency)
        seconds = time.monotonic() - started
        stored = await target.count()
        return {
            "events_stored": stored,
            "pages": pipe.pages,
            "seconds": seconds,
            "events_per_second": stored / seconds,
            # The pipe runs in this process, so this process's CPU is the pipe's (SQLite's included).
            "pipe_cpu_seconds": cpu_seconds() - own_cpu,
            "emulator_cpu_seconds": cpu_seconds(emulator.pid) - emulator_cpu,
            "postgres_cpu_seconds": postgres_cpu_since(database_cpu) if kind == "postgres" else 0.0,
        }
    finally:
        await target.close()


# --- profiling calsync's worker ------------------------------------------------------------------------------

# Steps of a sync, by a function that appears on the stack while it runs (py-spy's raw frames name the function
# and its file). Inclusive shares: a digest computed inside planning counts in both rows.
STEPS: tuple[tuple[str, str], ...] = (
    ("HTTP: the provider calls (httpx over aiohttp, bodies read)", "send (calsync/providers/http.py"),
    ("  of it: JSON decoding of pages", "json_body (calsync/providers/http.py"),
    ("normalising items (both platforms)", "normalize_event (calsync/providers/"),
    ("  of it: meeting-URL search", "meeting_link (calsync/providers/normalize.py"),
    ("  of it: bounding raw", "bound_raw (calsync/providers/normalize.py"),
    ("a page's transaction (fence, hooks, plan, clock, write, commit)", "write_retrying (calsync/store/db.py"),
    ("  planning a page (read stored rows, compare)", "plan_page (calsync/sync/apply.py"),
    ("    of it: event_values", "event_values (calsync/sync/rows.py"),
    ("    of it: content digests", "content_hash (calsync/sync/rows.py"),
    ("    of it: meeting ids", "event_meeting_id (calsync/sync/meeting_keys.py"),
    ("  features' hooks (webhook outbox, bots, meetings queue)", "publish (calsync/hooks.py"),
    ("  writing the page (clock, COPY, updates)", "write_page (calsync/sync/apply.py"),
    ("    of it: COPY records", "_insert (calsync/sync/apply.py"),
    ("claims, snapshots, outcomes (per calendar)", "_settle_planned (calsync/sync/engine.py"),
    ("meetings evaluation loop", "calsync/meetings/"),
)


# The same samples, each counted once: under the first part (in this order) whose function is on its stack, so the
# rows add up to the whole and say where the worker's CPU goes by part.
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("start-up (imports, migrations) still running", ("importlib._bootstrap", "alembic/", "process_tuning.py")),
    ("JSON decoding of pages", ("json_body (calsync/providers/http.py",)),
    ("normalising items (meeting-URL search, bounding raw, dataclasses)", ("normalize_event (calsync/providers/",)),
    ("HTTP to the platform (httpx's API over aiohttp, token refresh)", ("calsync/providers/",)),
    ("content digests", ("content_hash (calsync/sync/rows.py",)),
    ("meeting ids", ("event_meeting_id (calsync/sync/meeting_keys.py",)),
    ("event values (columns of a row)", ("event_values (calsync/sync/rows.py",)),
    ("COPY: records, encoding, sending", ("_insert (calsync/sync/apply.py",)),
    ("planning a page: the stored-row read, ids, comparison", ("plan_page (calsync/sync/apply.py",)),
    ("features' hooks (webhook outbox, bots, meetings queue)", ("publish (calsync/hooks.py",)),
    ("a page's other statements (BEGIN, fence, clock, COMMIT) and session", ("write_retrying (calsync/store/db.py",)),
    ("claims, snapshots, outcomes (per calendar)", ("calsync/worker/", "calsync/sync/")),
    ("the other loops (meetings, webhooks, bots, upkeep)", ("calsync/meetings/", "calsync/webhooks/", "calsync/bots/")),
    ("statements in SQLAlchemy's greenlet, whose caller py-spy does not see", ("asyncpg/", "sqlalchemy/")),
    ("the event loop, sockets, GC, the rest", ("",)),
)


def _py_spy() -> str:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else "py-spy"


class Profiler:
    """py-spy on one process from `start` to `stop`, writing collapsed stacks (`--format raw`)."""

    def __init__(self, directory: Path, label: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"worker-{label}.txt"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, pids: Sequence[int]) -> None:
        # --nonblocking: the worker is not paused to be sampled, so the profile costs it next to nothing.
        command = [_py_spy(), "record", "--pid", str(pids[0]), "--format", "raw", "--rate", "250", "--nonblocking"]
        command += ["--output", str(self.path)]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # attached before the clock starts

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=30)
        self.proc = None


def active_samples(path: Path) -> Iterator[tuple[str, int]]:
    """(stack, samples) of py-spy's collapsed stacks, without the idle ones (the loop waiting in select/epoll)."""
    for line in path.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not number.isdigit():
            continue
        if "select (selectors.py" in stack or "_run_once (asyncio/base_events.py" in stack.rsplit(";", 1)[-1]:
            continue
        yield stack, int(number)


def summarise_profile(path: Path) -> list[tuple[str, float]]:
    """(step, share of the worker's active samples) from py-spy's collapsed stacks; a sample counts for every step
    it is in."""
    counts: Counter[str] = Counter()
    total = 0
    for stack, samples in active_samples(path):
        total += samples
        for label, needle in STEPS:
            if needle in stack:
                counts[label] += samples
    return [(label, counts[label] / total if total else 0.0) for label, _ in STEPS] + [("active samples", float(total))]


def summarise_parts(path: Path) -> list[tuple[str, float]]:
    """(part, share of the worker's active samples), each sample under its first matching part (`PARTS`)."""
    counts: Counter[str] = Counter()
    total = 0
    for stack, samples in active_samples(path):
        total += samples
        counts[next(label for label, needles in PARTS if any(needle in stack for needle in needles))] += samples
    return [(label, counts[label] / total if total else 0.0) for label, _ in PARTS] + [("active samples", float(total))]


# --- the comparison ------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calendars", type=int, default=20)
    parser.add_argument("--events", type=int, default=500, help="events per calendar, series included")
    parser.add_argument("--recurring", type=int, default=5, help="recurring series per calendar")
    parser.add_argument("--rounds", type=int, default=3, help="pipe then calsync, alternating")
    parser.add_argument("--concurrency", type=int, default=WORKER_CONCURRENCY, help="calendars in flight, both sides")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="postgres")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per calsync run before giving up")
    parser.add_argument("--quick", action="store_true", help="10 calendars x 200 events, 1 round")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy the worker's first run per database")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.quick:
        args.calendars, args.events, args.rounds = 10, 200, 1
    # What bench/initial_sync.py's run reads: one worker, one project, no rules, calsync's concurrency.
    args.workers, args.projects, args.database_url = 1, 1, None
    quiet_logs()

    results: dict[str, list[dict[str, Any]]] = {}
    profiles: dict[str, list[tuple[str, float]]] = {}
    parts: dict[str, list[tuple[str, float]]] = {}
    with spawn_emulator() as emulator:
        seed_in_window(
            emulator.url, seed=SEED, calendars=args.calendars, events=args.events, recurring=args.recurring, lazy=False
        )
        for kind in database_kinds(args.db):
            for rnd in range(args.rounds):
                with bench_database(kind, "pipe") as db:
                    pipe = asyncio.run(pipe_run(args, kind, db.url, emulator))
                print(f"{kind} round {rnd + 1} pipe: {pipe}", flush=True)
                profiler = Profiler(args.profile, kind) if args.profile and rnd == 0 else None
                with bench_database(kind, "calsync") as db:
                    run = asyncio.run(one_run(args, db.url, emulator, profiler=profiler))
                print(f"{kind} round {rnd + 1} calsync: {run}", flush=True)
                results.setdefault(f"{kind} pipe", []).append(pipe)
                results.setdefault(f"{kind} calsync", []).append(run)
                if profiler is not None:
                    profiles[kind] = summarise_profile(profiler.path)
                    parts[kind] = summarise_parts(profiler.path)

    m = machine()
    print(f"\nmachine: {m['nproc']} cores, {m['cpu']}, {m['ram_gb']} GB, load average {m['loadavg']}")
    rows = []
    ratios: dict[str, float] = {}
    for kind in database_kinds(args.db):
        pipe_runs, calsync_runs = results[f"{kind} pipe"], results[f"{kind} calsync"]
        pipe_rate = statistics.median(r["events_per_second"] for r in pipe_runs)
        calsync_rate = statistics.median(r["events_per_second"] for r in calsync_runs)
        ratios[kind] = calsync_rate / pipe_rate
        for side, runs, cpu_key in (
            ("pipe", pipe_runs, "pipe_cpu_seconds"),
            ("calsync", calsync_runs, "worker_sync_cpu_seconds"),
        ):
            rates = [r["events_per_second"] for r in runs]
            rows.append(
                [
                    kind,
                    side,
                    f"{statistics.median(r['events_stored'] for r in runs):,.0f}",
                    f"{statistics.median(r['seconds'] for r in runs):.2f}",
                    f"{statistics.median(rates):,.0f}",
                    " / ".join(f"{x:,.0f}" for x in rates),
                    f"{statistics.median(r[cpu_key] / r['events_stored'] * 1e6 for r in runs):.0f}",
                    f"{statistics.median(r[cpu_key] / r['seconds'] for r in runs):.0%}",
                    f"{statistics.median(r['emulator_cpu_seconds'] for r in runs):.1f}",
                    # calsync's PostgreSQL CPU up to the last calendar's sync, not the meetings' evaluation after it.
                    f"{statistics.median(r.get('postgres_sync_cpu_seconds', r['postgres_cpu_seconds']) for r in runs):.1f}",
                    f"{ratios[kind]:.2f}" if side == "calsync" else "",
                ]
            )
    print_table(
        f"Initial sync, {args.calendars} calendars x {args.events} events ({args.recurring} series): calsync vs the "
        f"raw pipe (medians of {args.rounds} rounds)",
        [
            "db",
            "side",
            "events",
            "seconds",
            "events/s",
            "runs",
            "own CPU µs/event",
            "own CPU / wall",
            "emulator CPU s",
            "PostgreSQL CPU s",
            "calsync / pipe",
        ],
        rows,
    )
    for kind, shares in profiles.items():
        print_table(
            f"Where calsync's worker spends its active samples ({kind}, py-spy, first round)",
            ["step", "share"],
            [[label, f"{share:.0f}" if label == "active samples" else f"{share:.1%}"] for label, share in shares],
        )
    for kind, shares in parts.items():
        print_table(
            f"The worker's active samples by part, each counted once ({kind}, py-spy, first round)",
            ["part", "share"],
            [[label, f"{share:.0f}" if label == "active samples" else f"{share:.1%}"] for label, share in shares],
        )
    # bench/compare_revisions.py reads `results`: the medians and the ratio go there too.
    summary = {
        kind: {
            "pipe_events_per_second": statistics.median(r["events_per_second"] for r in results[f"{kind} pipe"]),
            "calsync_events_per_second": statistics.median(r["events_per_second"] for r in results[f"{kind} calsync"]),
            "calsync_over_pipe": ratio,
        }
        for kind, ratio in ratios.items()
    }
    emit_json(
        args.json,
        {
            "benchmark": "initial_sync_pipe",
            "args": vars(args),
            "results": {**results, "summary": summary},
            "profile": {kind: dict(shares) for kind, shares in profiles.items()},
        },
    )


if __name__ == "__main__":
    main()
