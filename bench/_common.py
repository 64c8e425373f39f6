"""Shared plumbing of the calsync benchmarks: machine facts, throwaway databases, the emulator and calsync
processes on 127.0.0.1, bulk rows, percentiles and the result table.

Every benchmark measures calsync, not the emulator: whenever calsync's speed or memory is the number,
the emulator runs in its own process (`spawn_emulator`), so it neither shares calsync's GIL nor its RSS.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
PG_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"


# --- machine and statistics ----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ram_gb = 0.0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = int(line.split()[1]) / 1024 / 1024
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gb": round(ram_gb, 1),
        "python": platform.python_version(),
        "loadavg": os.getloadavg(),
    }


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def median(values: Sequence[float]) -> float:
    return pct(values, 0.5)


def proc_status(pid: int | str = "self") -> dict[str, float]:
    """VmRSS / VmHWM (MB) of a process from /proc."""
    out: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(line.split()[1]) / 1024
    return out


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU seconds a process has used so far (/proc/<pid>/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def with_children(pid: int) -> list[int]:
    """A process and its children: `calsync api` forks its second server process (two by default on PostgreSQL)."""
    try:
        return [pid, *(int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    except OSError:
        return [pid]


def postgres_cpu() -> dict[int, float]:
    """CPU seconds so far of every PostgreSQL server process on this machine, by pid."""
    usage: dict[int, float] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() != "postgres":
                continue
        except OSError:
            continue
        usage[int(proc.name)] = cpu_seconds(proc.name)
    return usage


def postgres_cpu_since(before: dict[int, float]) -> float:
    """PostgreSQL CPU seconds used since `before` (backends started since count from zero; ones that exited
    in between are lost, which the benches avoid by keeping their pools open until measured)."""
    now = postgres_cpu()
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in now.items() if seconds == seconds)


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(cells[0], widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


def emit_json(path: str | None, payload: dict[str, Any]) -> None:
    if path:
        text = json.dumps({"machine": machine(), **payload}, indent=2, default=str)
        if path == "-":
            print(text)
        else:
            Path(path).write_text(text + "\n")


def quiet_logs() -> None:
    from calsync.logs import configure_logging

    configure_logging("WARNING", "console")


# --- ports and child processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, proc: subprocess.Popen[bytes] | None = None, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"child process exited with {proc.returncode} before {url} answered")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0, trust_env=False).status_code < 500:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {seconds}s")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@dataclass
class ChildEmulator:
    url: str
    pid: int


@contextlib.contextmanager
def spawn_emulator() -> Iterator[ChildEmulator]:
    """The emulator in its own process on 127.0.0.1 (uvicorn, as `calsync emulator` runs it)."""
    port = free_port()
    code = f"from calsync_emulator.server import run; run('127.0.0.1', {port})"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    try:
        wait_http(f"http://127.0.0.1:{port}/_emulator/health", proc)
        yield ChildEmulator(f"http://127.0.0.1:{port}", proc.pid)
    finally:
        stop_process(proc)


def seed_in_window(
    emulator_url: str,
    *,
    seed: int,
    calendars: int,
    events: int,
    recurring: int,
    lazy: bool,
    distinct_accounts: int = 0,
) -> None:
    """Seed `calendars` accounts (half Google, half Microsoft, as `seeded_accounts` lists them) whose events all
    fall inside calsync's default window (days today+8 .. today+26); with `distinct_accounts` n, account i of a
    platform has the events of its account i % n (bench/copied_state.py)."""
    from calsync_emulator.client import SyncEmulatorControl

    with SyncEmulatorControl(emulator_url, timeout=300) as control:
        today = control.now().date()
        half = calendars // 2
        control.seed(
            seed=seed,
            google_accounts=half,
            microsoft_accounts=calendars - half,
            events_per_calendar=events,
            recurring_per_calendar=recurring,
            start=today + timedelta(days=8),
            days=19,
            lazy=lazy,
            distinct_accounts=distinct_accounts,
        )


def calsync_env(database_url: str, encryption_key: str, emulator_url: str | None, **extra: str) -> dict[str, str]:
    from calsync_emulator.urls import calsync_settings_env

    env = {k: v for k, v in os.environ.items() if not k.startswith("CALSYNC_")}
    env |= {
        "CALSYNC_DATABASE_URL": database_url,
        "CALSYNC_ENCRYPTION_KEYS": encryption_key,
        "CALSYNC_LOG_LEVEL": "WARNING",
        "CALSYNC_DATA_DIR": tempfile.gettempdir(),
    }
    if emulator_url:
        env |= calsync_settings_env(emulator_url)
    env |= extra
    return env


def loop_cpu(metrics_url: str) -> dict[str, float]:
    """The worker's CPU seconds per loop (`calsync_worker_loop_cpu_seconds_total`); empty from a worker without it."""
    import httpx

    seconds: dict[str, float] = {}
    for line in httpx.get(metrics_url, timeout=10).text.splitlines():
        if line.startswith("calsync_worker_loop_cpu_seconds_total{"):
            labels, value = line.rsplit(" ", 1)
            seconds[labels.split('loop="', 1)[1].split('"', 1)[0]] = float(value)
    return seconds


@contextlib.contextmanager
def spawn_calsync(
    command: str, env: dict[str, str], *, port: int | None = None, extra: Sequence[str] = ()
) -> Iterator[subprocess.Popen[bytes]]:
    """`calsync api` or `calsync worker` as its own process (the production entry points), with `extra` options."""
    args = [str(REPO / ".venv/bin/calsync"), command, *extra]
    if port is not None:
        args += ["--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL)
    try:
        if port is not None:
            wait_http(f"http://127.0.0.1:{port}/health", proc)
        yield proc
    finally:
        stop_process(proc)


async def workers_idle(workers: list[subprocess.Popen[bytes]], limit: float = 30.0) -> float:
    """Wait until the workers have started (imported, migrated, first polls made) and are idle: under a fifth of a
    core for half a second (idle polling every 0.2 s takes ~7%, the start a whole core); returns the seconds waited.
    A fixed 2 s pause let the start's imports and migration check run on the clock, and their CPU count as the
    sync's."""
    started = time.monotonic()
    await asyncio.sleep(1.0)
    previous = sum(cpu_seconds(w.pid) for w in workers)
    while time.monotonic() - started < limit:
        await asyncio.sleep(0.5)
        now = sum(cpu_seconds(w.pid) for w in workers)
        if now - previous <= 0.1 * len(workers):
            break
        previous = now
    return time.monotonic() - started


# --- databases -----------------------------------------------------------------------------------------------


@dataclass
class BenchDatabase:
    kind: str  # sqlite | postgres
    url: str


def _pg_admin_dsn(url: str) -> tuple[str, str]:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database or ""
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    return admin, name


async def _pg_admin(url: str, sql: str) -> None:
    import asyncpg

    admin, _ = _pg_admin_dsn(url)
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def bench_database(kind: str, tag: str, database_url: str | None = None) -> Iterator[BenchDatabase]:
    """A fresh, migrated database that is removed afterwards. `kind` is sqlite or postgres; with
    `database_url` (PostgreSQL) that database is created if missing and dropped only if created here."""
    from calsync.store.migrate import upgrade

    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix=f"calsync-bench-{tag}-") as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/calsync.db"
            upgrade(url)
            yield BenchDatabase("sqlite", url)
        return
    url = database_url or f"{PG_SERVER}/calsync_bench_{tag}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    _, name = _pg_admin_dsn(url)
    created = False
    try:
        asyncio.run(_pg_admin(url, f'CREATE DATABASE "{name}"'))
        created = True
    except Exception as exc:  # an existing database given by --database-url is fine
        if "already exists" not in str(exc):
            raise
    try:
        upgrade(url)
        yield BenchDatabase("postgres", url)
    finally:
        if created:
            asyncio.run(_pg_admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def database_kinds(choice: str) -> list[str]:
    return ["sqlite", "postgres"] if choice == "both" else [choice]


# --- calsync rows --------------------------------------------------------------------------------------------


@dataclass
class Tenant:
    project_id: int
    project_object_id: str
    api_key: str


async def new_tenant(context: Any, name: str = "bench") -> Tenant:
    from calsync.store.queries import projects as project_queries

    async with context.db.write() as session:
        project = await project_queries.create_project(session, name, context.clock())
        issued = await project_queries.create_api_key(session, project, "bench", context.clock())
    return Tenant(project.id, project.object_id, issued.key)


def seeded_accounts(seed: int, google: int, microsoft: int) -> list[tuple[str, dict[str, str]]]:
    """(platform, credentials) of the emulator's seeded accounts (documented credential pattern)."""
    from calsync_emulator.model import Platform
    from calsync_emulator.seeding import credentials

    accounts = [("google", credentials(seed, Platform.GOOGLE, i)) for i in range(google)]
    accounts += [("microsoft", credentials(seed, Platform.MICROSOFT, i)) for i in range(microsoft)]
    return accounts


async def insert_calendars(
    context: Any,
    project_id: int,
    accounts: Sequence[tuple[str, dict[str, str]]],
    *,
    due: datetime | None,
    batch: int = 2000,
) -> list[int]:
    """Calendar rows as `POST /api/v1/calendars` makes them (primary calendar, encrypted credentials),
    in bulk; `due=None` leaves them not due (the benchmark makes them due when its clock starts)."""
    from sqlalchemy import insert

    from calsync.ids import new_id
    from calsync.store.models import Calendar

    now = datetime.now(UTC)
    rows = [
        {
            "object_id": new_id("cal_"),
            "project_id": project_id,
            "platform": platform_name,
            "state": "connected",
            "deduplication_key": cred["account_id"],
            "client_id": cred["client_id"],
            "platform_uuid": None,
            "encrypted_credentials": context.secrets.encrypt_json(
                {"client_secret": cred["client_secret"], "refresh_token": cred["refresh_token"]}
            ),
            "created_at": now,
            "updated_at": now,
            "sync_due_at": due,
            "sync_reason": "created",
            "consecutive_failures": 0,
            "push_state": "none",
        }
        for platform_name, cred in accounts
    ]
    ids: list[int] = []
    for start in range(0, len(rows), batch):
        async with context.db.write() as session:
            result = await session.execute(insert(Calendar).returning(Calendar.id), rows[start : start + batch])
            ids.extend(int(r[0]) for r in result)
    return ids


async def stored_events(context: Any) -> int:
    from sqlalchemy import func, select

    from calsync.store.models import CalendarEvent

    async with context.db.read() as session:
        return int((await session.execute(select(func.count()).select_from(CalendarEvent))).scalar_one())


async def make_all_due(context: Any) -> datetime:
    from sqlalchemy import update

    from calsync.store.models import Calendar
    from calsync.store.work_signal import notify_work_in_transaction

    now = datetime.now(UTC)
    async with context.db.write() as session:
        await session.execute(update(Calendar).values(sync_due_at=now))
        await notify_work_in_transaction(session)
    return now


@contextlib.asynccontextmanager
async def bench_context(database_url: str, emulator_url: str | None, **overrides: Any) -> AsyncIterator[Any]:
    from calsync.runtime import build_context
    from calsync.security.secret_box import generate_key
    from calsync.settings import Settings

    urls: dict[str, Any] = {}
    if emulator_url:
        base = emulator_url.rstrip("/")
        urls = {
            "google_oauth_token_url": f"{base}/google/token",
            "google_api_url": f"{base}/google/calendar/v3",
            "microsoft_login_url": f"{base}/microsoft/login",
            "microsoft_graph_url": f"{base}/microsoft/graph/v1.0",
        }
    settings = Settings(
        database_url=database_url,
        data_dir=Path(tempfile.gettempdir()) / "calsync-bench",
        encryption_keys=overrides.pop("encryption_keys", None) or generate_key(),
        log_level="WARNING",
        **urls,
        **overrides,
    )
    context = build_context(settings)
    try:
        yield context
    finally:
        await context.aclose()
