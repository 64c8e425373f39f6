"""`GET /api/v1/calendar_events` at the machine's limit: `calsync api` against a lean reference server
(bench/lean_events_server.py: asyncpg, one SQL statement per request, orjson) on the same PostgreSQL database,
both driven by wrk with 50 concurrent keep-alive clients.

Per case (a calendar's first page, a time window's first page, the project's first page; the paths rotate over
the 2,000 calendars and over windows spread across the 60 days of events), each server is warmed, then measured
for `--duration` seconds, alternately, `--rounds` times. Printed per server: requests per second, p50/p99 latency
(wrk's), and the CPU per request of the server process (of it, in the kernel) and of the database's PostgreSQL
backends (/proc/<pid>/stat before and after),
and calsync's ratio to the lean server. Before measuring, both servers answer every case's sample requests and
must return the same event ids in the same order and the same `next` link (a body size that differs by more than
5% is reported: the lean server splices PostgreSQL's text of the jsonb columns, which has spaces).

`--profile DIR` also records `calsync api` with py-spy (not a project dependency: `.venv/bin/pip install py-spy`)
during one more run per case, writes its collapsed stacks there and prints where the CPU goes, by module. It
samples the thread holding the GIL: Python's own CPU; the kernel's (socket I/O) is the table's system CPU.

    .venv/bin/python bench/events_api_limit.py                     # 1,000,000 events, 20 s per run, 2 rounds
    .venv/bin/python bench/events_api_limit.py --quick             # 200,000 events, 5 s per run, 1 round
    .venv/bin/python bench/events_api_limit.py --quick --profile /tmp/apiprof --json out.json
    .venv/bin/python bench/events_api_limit.py --calsync "one=--processes 1" --calsync "two=--processes 2"

`--calsync LABEL=ARGS` (repeatable) runs several `calsync api` set-ups in the same invocation, each beside the
lean server and measured in the same alternation: ARGS are `calsync api` options, and words `CALSYNC_…=value`
are put in its environment instead. Without it, one `calsync api` with its defaults ("calsync"). `--lean-processes 2`
runs the lean server as two processes on one socket too (its pool of 10 split), as `calsync api` does by default.

PostgreSQL only; needs wrk (/usr/bin/wrk).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    REPO,
    bench_database,
    calsync_env,
    emit_json,
    free_port,
    machine,
    print_table,
    quiet_logs,
    spawn_calsync,
    stop_process,
    wait_http,
    with_children,
)
from events_api import Population, iso, load

PATH = "/api/v1/calendar_events"
CONNECTIONS = 50
THREADS = 2
WARM_SECONDS = 3
TARGET_RATIO = 0.7  # calsync's requests per second over the lean server's
TARGET_P99_FACTOR = 1.5  # calsync's p99 over the lean server's, at most

# wrk's Lua: the paths rotate (each thread from its own offset), and `done` prints the numbers as one JSON line.
WRK_SCRIPT = """
local paths = {%(paths)s}
local auth = %(auth)s
local threads = 0
function setup(thread)
  thread:set("offset", threads * 7919)
  threads = threads + 1
end
local counter = 0
function init(args)
  counter = offset or 0
end
function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1], {["Authorization"] = auth})
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%%d,"duration_us":%%d,"errors":%%d,"status_errors":%%d,"timeouts":%%d,' ..
    '"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d,"bytes":%%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, summary.bytes))
end
"""


@dataclass
class Case:
    name: str
    paths: list[str]


@dataclass
class Server:
    name: str
    url: str
    pid: int


def cases(pop: Population, window_hours: int) -> list[Case]:
    """The three requests of the issue, each over many parameter values so that no one page stays hot."""
    windows = []
    for hour in range(0, 59 * 24, 7):  # window starts every 7 hours over the 60 days of start times
        start = pop.now - timedelta(days=30) + timedelta(hours=hour)
        end = start + timedelta(hours=window_hours)
        windows.append(f"{PATH}?{urlencode({'start_time_gte': iso(start), 'end_time_lte': iso(end)})}")
    return [
        Case("calendar's first page", [f"{PATH}?{urlencode({'calendar_id': c})}" for c in pop.calendar_object_ids]),
        Case(f"{window_hours} h window's first page", windows),
        Case("project's first page", [PATH]),
    ]


def wrk_script(directory: Path, case: Case, api_key: str) -> Path:
    path = directory / f"{re.sub(r'[^a-z0-9]+', '_', case.name.lower())}.lua"
    paths = ", ".join(json.dumps(p) for p in case.paths)  # a JSON string of ASCII is a Lua string literal
    path.write_text(WRK_SCRIPT % {"paths": paths, "auth": json.dumps(f"Token {api_key}")})
    return path


def run_wrk(url: str, script: Path, seconds: int) -> dict[str, Any]:
    args = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "30s", "--latency"]
    result = subprocess.run(
        [*args, "-s", str(script), url], capture_output=True, text=True, timeout=seconds + 60, check=True
    )
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("WRKJSON "))
    return json.loads(line.removeprefix("WRKJSON "))  # type: ignore[no-any-return]


def user_system_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process so far (/proc/<pid>/stat); zeros once it has exited."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def server_seconds(pid: int) -> tuple[float, float]:
    """`user_system_seconds` of a server and its child processes."""
    pairs = [user_system_seconds(each) for each in with_children(pid)]
    return sum(user for user, _ in pairs), sum(system for _, system in pairs)


def database_backends(database_url: str, *, active: bool = False) -> list[int]:
    """The pids of the PostgreSQL backends connected to the bench's database: the servers' pools (other work on
    the same PostgreSQL server does not count, as it would with every postgres process); `active`: only those
    running a statement."""
    import asyncpg
    from sqlalchemy.engine import make_url

    async def pids() -> list[int]:
        dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                + (" AND state = 'active'" if active else "")
            )
        finally:
            await conn.close()
        return [row["pid"] for row in rows]

    return asyncio.run(pids())


def settle(servers: list[Server], database_url: str, limit_seconds: float = 60.0) -> None:
    """Wait until the requests wrk left in flight are done (no statement running in the bench's database, no
    server using CPU): otherwise a slow run's backlog is measured as the next run's cost."""
    deadline = time.monotonic() + limit_seconds
    while time.monotonic() < deadline:
        before = [sum(server_seconds(server.pid)) for server in servers]
        time.sleep(0.3)
        after = [sum(server_seconds(server.pid)) for server in servers]
        busy = any(b - a > 0.03 for a, b in zip(before, after, strict=True))
        if not busy and not database_backends(database_url, active=True):
            return
    print(f"warning: the servers were still busy {limit_seconds:.0f} s after a run", flush=True)


def sessions_opened(database_url: str) -> int:
    """Connections the bench's database has accepted so far (`pg_stat_database.sessions`, PostgreSQL 14+): a pool
    that closes and reopens connections under load shows here."""
    import asyncpg
    from sqlalchemy.engine import make_url

    async def count() -> int:
        dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn)
        try:
            value = await conn.fetchval("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        finally:
            await conn.close()
        return int(value or 0)

    return asyncio.run(count())


def backends_cpu(pids: list[int]) -> dict[int, float]:
    return {pid: sum(user_system_seconds(pid)) for pid in pids}


def measure(server: Server, script: Path, seconds: int, database_url: str) -> dict[str, Any]:
    """One wrk run. PostgreSQL's share: the CPU of the bench database's backends over the run (a backend that a
    pool opened during the run counts from zero; one it closed during the run is lost)."""
    (user_before, system_before), pg_before = (
        server_seconds(server.pid),
        backends_cpu(database_backends(database_url)),
    )
    sessions_before = sessions_opened(database_url)
    pids = with_children(server.pid)
    each_before = [sum(user_system_seconds(pid)) for pid in pids]
    out = run_wrk(server.url, script, seconds)
    user, system = server_seconds(server.pid)
    each = [sum(user_system_seconds(pid)) - before for pid, before in zip(pids, each_before, strict=True)]
    pg_after = backends_cpu(database_backends(database_url) + list(pg_before))
    pg_cpu = sum(seconds - pg_before.get(pid, 0.0) for pid, seconds in pg_after.items() if seconds > 0)
    # Less the two this bench opens itself (listing the backends after the run, and this count).
    connections_opened = sessions_opened(database_url) - sessions_before - 2
    server_cpu = user - user_before + system - system_before
    done = max(out["requests"], 1)
    return {
        "system_cpu_ms": (system - system_before) * 1000 / done,
        "rps": out["requests"] / (out["duration_us"] / 1e6),
        "p50_ms": out["p50_us"] / 1000,
        "p99_ms": out["p99_us"] / 1000,
        "max_ms": out["max_us"] / 1000,
        "cpu_ms": server_cpu * 1000 / done,
        "pg_cpu_ms": pg_cpu * 1000 / done,
        "kb": out["bytes"] / done / 1024,
        "requests": out["requests"],
        "errors": out["errors"] + out["status_errors"],
        "loadavg": os.getloadavg()[0],
        # How the CPU fell on the server's processes (one share per process): how evenly they took the clients.
        "connections_opened": connections_opened,
        "cpu_shares": [round(part / max(sum(each), 1e-9), 2) for part in each],
    }


def check_same(servers: list[Server], case: Case, api_key: str) -> list[str]:
    """Both servers answer a few of the case's paths with the same ids, order and `next` link; warnings."""
    warnings = []
    headers = {"Authorization": f"Token {api_key}"}
    for path in case.paths[:: max(1, len(case.paths) // 5)][:5]:
        bodies = []
        for server in servers:
            response = httpx.get(server.url + path, headers=headers, timeout=60, trust_env=False)
            if response.status_code != 200:
                raise RuntimeError(f"{server.name} {path}: {response.status_code} {response.text[:300]}")
            page = response.json()
            nxt = page["next"] and page["next"].replace(server.url, "")
            bodies.append(([e["id"] for e in page["results"]], nxt, page["previous"], len(response.content)))
        (ids_a, next_a, prev_a, size_a), (ids_b, next_b, prev_b, size_b) = bodies
        if ids_a != ids_b or next_a != next_b or prev_a != prev_b:
            raise RuntimeError(f"{case.name}: the servers differ on {path}: {ids_a[:3]}… vs {ids_b[:3]}…")
        if not ids_a and case.name != "project's first page":
            warnings.append(f"{case.name}: {path} is empty")
        if abs(size_a - size_b) > 0.05 * max(size_a, size_b):
            warnings.append(f"{case.name}: body sizes differ by more than 5% ({size_a:,} vs {size_b:,} bytes)")
    return warnings


@contextlib.contextmanager
def spawn_lean(database_url: str, port: int, loop: str, processes: int = 1) -> Iterator[subprocess.Popen[bytes]]:
    from sqlalchemy.engine import make_url

    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    script = Path(__file__).resolve().parent / "lean_events_server.py"
    args = [sys.executable, str(script), "--dsn", dsn, "--port", str(port), "--loop", loop]
    args += ["--processes", str(processes)]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc)
        yield proc
    finally:
        stop_process(proc)


# What a sample's on-CPU time is attributed to: the first frame from the leaf up whose text matches (py-spy's
# frames read `function (path/file.py:line)`, the path shortened to the import root). Time in C (orjson, the
# socket's send) counts for the Python frame that called it.
CATEGORIES = (
    ("orjson (calsync.json_codec: jsonb decode, response encode)", r"json_codec\.py|json_response\.py|orjson"),
    ("socket writes and reads (asyncio transport)", r"asyncio/selector_events\.py|uvloop"),
    ("asyncio event loop, tasks", r"asyncio/|selectors\.py"),
    ("opentelemetry (FastAPI's telemetry check)", r"^\S+ \(trace/|opentelemetry"),
    ("pydantic", r"pydantic"),
    ("fastapi: routing, dependencies", r"fastapi/"),
    ("starlette: routing, middleware, request", r"starlette/"),
    ("sqlalchemy: compile, ORM execute, session, pool, rows", r"sqlalchemy"),
    ("asyncpg", r"asyncpg/"),
    ("uvicorn/httptools", r"uvicorn/|httptools"),
    ("logging", r"logging/|structlog"),
    ("calsync: routes, serializers, auth, queries", r"calsync/"),
)
# Inclusive shares of calsync's own steps and of a few library steps: a sample counts for every step on its stack.
STEPS = (
    ("route handler (list_calendar_events)", r"^list_calendar_events \("),
    ("auth (authenticate: its own session and query)", r"^authenticate \(calsync/api/auth\.py"),
    ("FastAPI solve_dependencies (params, auth, app-wide)", r"^solve_dependencies \("),
    ("app-wide dependencies", r"^(reject_unstorable_parameters|require_json_media_type) \("),
    ("find_calendar_ids (query)", r"^find_calendar_ids \("),
    ("list_events (query)", r"^list_events \(calsync/store"),
    ("calendar_object_ids (query)", r"^calendar_object_ids \("),
    ("bots_of_events (query, ORM)", r"^bots_of_events \("),
    ("event_json + iso", r"^event_json \("),
    ("page_envelope (next link)", r"^page_envelope \("),
    ("JSONResponse.render (orjson dumps)", r"^JSONResponse\.render \(|^render \(calsync/json_response"),
    ("jsonb decoding (orjson loads in asyncpg's codec)", r"^loads \(calsync/json_codec"),
    ("SQLAlchemy compile and cache key", r"sqlalchemy/sql/(compiler|cache_key)\.py|_init_compiled|render_bind_cast"),
    ("SQLAlchemy ORM execute preparation", r"sqlalchemy/orm/context\.py"),
    ("SQLAlchemy result rows", r"sqlalchemy/engine/(result|cursor)\.py|sqlalchemy/orm/loading\.py"),
    (
        "transaction begin/commit, pool checkout",
        r"^(AsyncSessionTransaction\.__aexit__|Session\._connection_for_bind"
        r"|Session\.begin|Session\.close|_ConnectionFairy\._checkout) \(",
    ),
    ("asyncpg execute (protocol, prepared statements)", r"asyncpg/"),
    ("socket write of the response", r"_SelectorSocketTransport\.write \("),
    ("FastAPI telemetry check (per request)", r"^(NativeTelemetry\.\w+|_get_request_telemetry|get_tracer_provider) \("),
)


def summarize_profile(collapsed: Path, requests: int) -> dict[str, Any]:
    """py-spy's collapsed stacks (`frame;frame;… count`, samples of the thread holding the GIL: without `--gil`,
    py-spy also counts a thread that is in a syscall but not running, which made the socket send look like a
    third of the time on a loaded machine while the process's system CPU was a fifteenth) → self time by module
    and inclusive time of calsync's steps, as shares and as ms per request."""
    by_module: Counter[str] = Counter()
    by_step: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        label = "other" if stack.strip() else "no Python frame"
        for frame in reversed(frames):
            found = next((name for name, pattern in CATEGORIES if re.search(pattern, frame)), None)
            if found:
                label = found
                break
        by_module[label] += count
        for name, pattern in STEPS:
            if any(re.search(pattern, frame) for frame in frames):
                by_step[name] += count
    return {"samples": total, "requests": requests, "by_module": dict(by_module), "by_step": dict(by_step)}


def profile_case(server: Server, script: Path, seconds: int, directory: Path, case: Case, rate: int) -> dict[str, Any]:
    py_spy = shutil.which("py-spy", path=str(REPO / ".venv/bin")) or shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    out = directory / (script.stem + ".collapsed")
    recorder = subprocess.Popen(
        [py_spy, "record", "--pid", str(server.pid), "--rate", str(rate), "--duration", str(seconds + 2),
         "--format", "raw", "--output", str(out), "--nonblocking", "--gil"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1)  # py-spy attaches before the load starts
    user_before, system_before = user_system_seconds(server.pid)
    result = run_wrk(server.url, script, seconds)
    user, system = user_system_seconds(server.pid)
    recorder.wait(timeout=seconds + 60)
    done = max(result["requests"], 1)
    summary = summarize_profile(out, result["requests"])
    summary |= {
        "case": case.name,
        "cpu_ms": (user - user_before) * 1000 / done,
        "system_cpu_ms": (system - system_before) * 1000 / done,
        "file": str(out),
    }
    return summary


def print_profile(summary: dict[str, Any]) -> None:
    total, cpu_ms = max(summary["samples"], 1), summary["cpu_ms"]
    for key, title in (("by_module", "self time by module"), ("by_step", "inclusive time of calsync's steps")):
        rows = [
            [name, f"{count / total:.1%}", f"{cpu_ms * count / total:.2f}"]
            for name, count in sorted(summary[key].items(), key=lambda item: -item[1])
        ]
        print_table(
            f"calsync api, {summary['case']}: {title} ({summary['samples']} samples holding the GIL, scaled to "
            f"{cpu_ms:.2f} user CPU ms/request; system CPU {summary.get('system_cpu_ms', float('nan')):.2f} ms)",
            ["", "share", "ms/request"],
            rows,
        )


def setups(args: argparse.Namespace) -> list[tuple[str, list[str], dict[str, str]]]:
    """The `calsync api` set-ups to measure: (label, options, environment)."""
    if not args.calsync:
        processes = [] if args.calsync_processes is None else ["--processes", str(args.calsync_processes)]
        return [("calsync", processes, {})]
    found = []
    for spec in args.calsync:
        label, _, words = spec.partition("=")
        if not label or label == "lean":
            raise SystemExit(f"--calsync {spec!r}: LABEL=ARGS, and LABEL not 'lean'")
        env = dict(word.split("=", 1) for word in words.split() if word.startswith("CALSYNC_"))
        found.append((label, [word for word in words.split() if not word.startswith("CALSYNC_")], env))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--calendars", type=int, default=2000)
    parser.add_argument("--duration", type=int, default=20, help="seconds of one wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="measured runs per case and server (alternating)")
    parser.add_argument("--window-hours", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="200,000 events, 5 s runs, 1 round")
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (created if missing, then dropped)")
    parser.add_argument("--profile", default=None, help="a folder: record calsync with py-spy, one run per case")
    parser.add_argument("--profile-rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument(
        "--calsync-processes", type=int, default=None, help="`calsync api --processes N` (default: its own)"
    )
    parser.add_argument(
        "--calsync",
        action="append",
        default=None,
        metavar="LABEL=ARGS",
        help="a `calsync api` set-up to measure (repeatable): its options, and CALSYNC_…=value words for its "
        "environment",
    )
    parser.add_argument(
        "--lean-processes", type=int, default=1, help="the lean server's processes (its pool of 10 split between them)"
    )
    parser.add_argument("--lean-loop", choices=("uvloop", "asyncio"), default="uvloop", help="the lean server's loop")
    parser.add_argument("--summarize", nargs="+", default=None, help="only summarize py-spy collapsed files")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.summarize:
        for name in args.summarize:
            print_profile({**summarize_profile(Path(name), 0), "case": name, "cpu_ms": float("nan")})
        return
    if args.quick:
        args.events, args.duration, args.rounds = 200_000, 5, 1
    args.duration, args.rounds = min(args.duration, 120), min(args.rounds, 5)  # bounded, whatever is asked
    args.sqlite_events = 0
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    quiet_logs()
    from calsync.security.secret_box import generate_key

    key = generate_key()
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    profiles: list[dict[str, Any]] = []
    warnings: list[str] = []
    with bench_database("postgres", "apilimit", args.database_url) as db, tempfile.TemporaryDirectory() as tmp:
        pop = asyncio.run(load("postgres", db.url, args, key))
        all_cases = cases(pop, args.window_hours)
        scripts = {case.name: wrk_script(Path(tmp), case, pop.api_key) for case in all_cases}
        lean_port = free_port()
        env = calsync_env(db.url, key, None, CALSYNC_DISABLE_RATE_LIMITING="true")
        with contextlib.ExitStack() as running:
            servers = []
            for label, options, extra_env in setups(args):
                port = free_port()
                proc = running.enter_context(spawn_calsync("api", env | extra_env, port=port, extra=options))
                servers.append(Server(label, f"http://127.0.0.1:{port}", proc.pid))
            lean = running.enter_context(spawn_lean(db.url, lean_port, args.lean_loop, args.lean_processes))
            servers.append(Server("lean", f"http://127.0.0.1:{lean_port}", lean.pid))
            for case in all_cases:
                for server in servers[:-1]:
                    warnings += check_same([server, servers[-1]], case, pop.api_key)
                for server in servers:
                    run_wrk(server.url, scripts[case.name], WARM_SECONDS)
                    settle(servers, db.url)
            for round_ in range(args.rounds):
                for case in all_cases:
                    # Alternating which server goes first, so a drift in background load favours neither.
                    for server in servers if round_ % 2 == 0 else servers[::-1]:
                        print(f"round {round_ + 1}/{args.rounds}: {case.name}, {server.name}", flush=True)
                        row = measure(server, scripts[case.name], args.duration, db.url)
                        settle(servers, db.url)
                        results.setdefault(case.name, {}).setdefault(server.name, []).append(row)
            if args.profile:
                directory = Path(args.profile)
                directory.mkdir(parents=True, exist_ok=True)
                for case in all_cases:
                    print(f"profiling calsync: {case.name}", flush=True)
                    settle(servers, db.url)
                    profiles.append(
                        profile_case(servers[0], scripts[case.name], args.duration, directory, case, args.profile_rate)
                    )

    m = machine()
    print(f"\nmachine: {m['nproc']} cores, {m['cpu']}, {m['ram_gb']} GB, load average {m['loadavg']}")
    for line in warnings:
        print(f"warning: {line}")
    table = []
    summary = []
    for case_name, by_server in results.items():
        best = {name: max(rows, key=lambda r: r["rps"]) for name, rows in by_server.items()}
        for name, rows in by_server.items():
            for row in rows:
                table.append(
                    [case_name, name, f"{row['rps']:.1f}", f"{row['p50_ms']:.1f}", f"{row['p99_ms']:.1f}",
                     f"{row['cpu_ms']:.2f}", f"{row['system_cpu_ms']:.2f}", f"{row['pg_cpu_ms']:.2f}", f"{row['kb']:.0f}", row["errors"],
                     f"{row['loadavg']:.1f}", row["connections_opened"], "/".join(f"{share:.2f}" for share in row["cpu_shares"])]
                )  # fmt: skip
        for name in by_server:
            if name == "lean":
                continue
            ratio = best[name]["rps"] / best["lean"]["rps"]
            p99_factor = best[name]["p99_ms"] / best["lean"]["p99_ms"]
            summary.append(
                [case_name, name, f"{ratio:.2f}", "ok" if ratio >= TARGET_RATIO else "MISS", f"{p99_factor:.2f}",
                 "ok" if p99_factor <= TARGET_P99_FACTOR else "MISS",
                 f"{best[name]['cpu_ms'] / best['lean']['cpu_ms']:.1f}"]
            )  # fmt: skip
    print_table(
        f"GET {PATH} on PostgreSQL, {pop.events:,} events, wrk -t{THREADS} -c{CONNECTIONS} -d{args.duration}s, "
        f"{args.rounds} round(s)",
        ["case", "server", "req/s", "p50 ms", "p99 ms", "server CPU ms/req", "of it system", "PG CPU ms/req",
         "kB/resp", "errors", "load", "new PG conns", "CPU by process"],
        table,
    )  # fmt: skip
    print_table(
        f"calsync / lean, each set-up (best run of each; target: req/s ratio >= {TARGET_RATIO}, p99 <= {TARGET_P99_FACTOR}x)",
        ["case", "calsync", "req/s ratio", "", "p99 factor", "", "CPU/req factor"],
        summary,
    )
    for profile in profiles:
        print_profile(profile)
    emit_json(
        args.json,
        {"benchmark": "events_api_limit", "args": vars(args), "results": results, "profiles": profiles,
         "warnings": warnings},
    )  # fmt: skip


if __name__ == "__main__":
    main()
