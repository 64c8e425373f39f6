"""Chaos harness: never lose or freeze an event under concurrency, faults and downtime.

calsync is driven black-box, as a production user would: the emulator in its own process, then either
`calsync api` + N `calsync worker` processes on a throwaway PostgreSQL database, or one `calsync serve` on
SQLite. One project, one signed webhook to a receiver in this process. Google and Microsoft calendars on the
emulator, and CalDAV calendars on a real Radicale (bench/chaos_caldav.py: behind two fronts, one of them without
sync-collection), are connected through `POST /api/v1/calendars`; then, for a bounded time, random changes are
made on the emulator and on Radicale while workers (or the whole `serve`) are SIGKILLed and restarted, calsync's
PostgreSQL connections are terminated (and the database refuses connections for a moment), the emulator injects
throttling, 5xx, latency and dropped push notifications, Radicale's fronts answer 503 with Retry-After or stop
listening, and the receiver answers 500 or hangs. Then chaos stops and the
harness waits, without any manual sync, until calsync has converged or a deadline passes, and asserts:

  lost        an event live on the platform is not live in calsync
  stale       live in both but name/start/end differ, or gone on the platform but live in calsync
  duplicated  two live calsync events of one calendar with the same platform id
  unannounced a calsync event without a verified, acknowledged calendar.events_update delivery naming it,
              received after the event's updated_at
  unverified  a delivery whose signatures do not verify
  stuck       deliveries left `delivering`, or pending with no attempt and an old due time
  disconnects a calendar disconnected that was not revoked (revoked ones must be disconnected,
              code grant_revoked, announced by calendar.state_change)
  5xx         the harness's own API calls, and calsync's answers to the emulator's push notifications
              (a 503 during a deliberate database outage is counted apart)
  deadlocks   pg_stat_database.deadlocks of the database, and "deadlock detected" in any log
  log errors  JSON log lines of level error/critical, or any traceback, in any calsync process log
  bots_*      bots created to fall due during the chaos: each dispatched exactly once (one bot.dispatch
              idempotency key), announced, never early, and on time but for spans when nothing could
              dispatch (bench/chaos_bots.py)

It prints a table and a JSON report, and exits 1 on any violation.

    .venv/bin/python bench/chaos.py --quick --db postgres          # ~2-3 min: 40 + 4 CalDAV calendars, 60 s
    .venv/bin/python bench/chaos.py --quick --db sqlite
    .venv/bin/python bench/chaos.py --db postgres --minutes 10 --calendars 200   # the long form

See docs/reliability.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, free_port, machine, pct, print_table
from chaos_bots import VIOLATIONS as BOT_VIOLATIONS
from chaos_bots import BotSchedule
from chaos_caldav import CalDavSide, DavCalendar

from calsync.http_pool import pool_limits
from calsync_emulator.client import EmulatorControl, EmulatorError
from calsync_emulator.urls import calsync_settings_env

DEFAULT_PG_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"
TRIGGERS = ["calendar.events_update", "calendar.state_change", "bot.dispatch"]
SHOW = 15  # examples listed per violation kind

# --- small helpers -------------------------------------------------------------------------------------------


def now_utc() -> datetime:
    return datetime.now(UTC)


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def calsync_bin() -> str:
    local = Path(sys.executable).parent / "calsync"
    if local.exists():
        return str(local)
    found = shutil.which("calsync") or str(REPO / ".venv/bin/calsync")
    return found


def pg_server_url() -> str:
    """The PostgreSQL server (no database) from CALSYNC_TEST_POSTGRES_URL, else the local default."""
    from sqlalchemy.engine import make_url

    configured = os.environ.get("CALSYNC_TEST_POSTGRES_URL")
    if not configured:
        return DEFAULT_PG_SERVER
    return make_url(configured).set(database=None).render_as_string(hide_password=False)


def ephemeral_ports_start() -> int:
    with contextlib.suppress(OSError, ValueError):
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    return 32768


def asyncpg_dsn(sqlalchemy_url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return (
        make_url(sqlalchemy_url).set(drivername="postgresql", database=database).render_as_string(hide_password=False)
    )


# --- options ---------------------------------------------------------------------------------------------------


@dataclass
class Options:
    db: str
    calendars: int
    chaos_seconds: float
    workers: int
    seed: int
    rate: float  # platform changes per second
    chaos_interval: float  # mean seconds between kill/fault events
    safety_net: float
    lease: float
    webhook_timeout: float
    settle_seconds: float
    revoke: int
    run_dir: Path
    json_path: str | None
    pg_server: str
    keep_database: bool
    db_outage: str  # proxy | refuse
    min_kill_gap: float
    bots: int  # bots falling due during the chaos (bench/chaos_bots.py)
    caldav: int  # CalDAV calendars on Radicale, besides the emulator's (bench/chaos_caldav.py)

    @property
    def webhook_lease(self) -> float:
        # calsync/webhooks: a claimed delivery's lease is max(lease, timeout + 60 s)
        return max(self.lease, self.webhook_timeout + 60)


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        description="Chaos harness: calsync under worker kills, DB blips, platform faults and a flaky receiver.",
    )
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--quick", action="store_true", help="the short form: 40 calendars, 60 s of chaos")
    parser.add_argument("--minutes", type=float, help="chaos duration in minutes (default 10; --quick: 1)")
    parser.add_argument("--calendars", type=int, help="calendars, half Google, half Microsoft (default 200)")
    parser.add_argument("--workers", type=int, default=3, help="calsync worker processes on PostgreSQL")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--rate", type=float, help="platform changes per second (default 8; long form 10)")
    parser.add_argument("--chaos-interval", type=float, help="mean seconds between kills/faults (0.9; long 0.45)")
    parser.add_argument("--safety-net", type=float, help="CALSYNC_PUSH_SAFETY_NET_SECONDS (20; long form 30)")
    parser.add_argument("--lease", type=float, default=15.0, help="CALSYNC_LEASE_SECONDS")
    parser.add_argument("--webhook-timeout", type=float, default=2.0, help="CALSYNC_WEBHOOK_TIMEOUT_SECONDS")
    parser.add_argument(
        "--settle-seconds",
        type=float,
        help="deadline for convergence after chaos (default: max(safety net, webhook lease) + 60)",
    )
    parser.add_argument("--revoke", type=int, default=2, help="grants revoked during chaos (0: none)")
    parser.add_argument("--bots", type=int, help="bots falling due during the chaos (default 40; long form 400)")
    parser.add_argument("--caldav", type=int, help="CalDAV calendars on Radicale besides them (default 4; long 10)")
    parser.add_argument("--run-dir", help="where the logs go (default: a new folder under /tmp)")
    parser.add_argument("--json", dest="json_path", help="write the JSON report here ('-' = stdout)")
    parser.add_argument("--pg-server", default=None, help="PostgreSQL server URL without a database")
    parser.add_argument("--keep-database", action="store_true", help="do not drop the PostgreSQL database")
    parser.add_argument("--min-kill-gap", type=float, default=8.0, help="seconds at least between two SIGKILLs")
    parser.add_argument(
        "--db-outage",
        choices=["proxy", "refuse"],
        default="proxy",
        help="how the database goes away: proxy (calsync reaches PostgreSQL through a relay here that resets and "
        "refuses connections, as in a restart) or refuse (ALTER DATABASE … ALLOW_CONNECTIONS false, maintenance)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    chaos_seconds = 60 * (args.minutes if args.minutes is not None else (1 if quick else 10))
    safety_net = args.safety_net if args.safety_net is not None else (20.0 if quick else 30.0)
    run_dir = Path(args.run_dir) if args.run_dir else Path(tempfile.mkdtemp(prefix=f"calsync-chaos-{args.db}-"))
    options = Options(
        db=args.db,
        calendars=args.calendars if args.calendars is not None else (40 if quick else 200),
        chaos_seconds=chaos_seconds,
        workers=max(1, args.workers),
        seed=args.seed,
        rate=args.rate if args.rate is not None else (8.0 if quick else 10.0),
        chaos_interval=args.chaos_interval if args.chaos_interval is not None else (0.9 if quick else 0.45),
        safety_net=safety_net,
        lease=args.lease,
        webhook_timeout=args.webhook_timeout,
        settle_seconds=0.0,
        revoke=max(0, args.revoke),
        run_dir=run_dir,
        json_path=args.json_path,
        pg_server=args.pg_server or pg_server_url(),
        keep_database=args.keep_database,
        db_outage=args.db_outage,
        min_kill_gap=args.min_kill_gap,
        bots=max(0, args.bots if args.bots is not None else (40 if quick else 400)),
        caldav=max(0, args.caldav if args.caldav is not None else (4 if quick else 10)),
    )
    options.settle_seconds = (
        args.settle_seconds if args.settle_seconds is not None else max(safety_net, options.webhook_lease) + 60
    )
    return options


# --- child processes -------------------------------------------------------------------------------------------


class Child:
    """One calsync (or emulator) process; stdout and stderr appended to run_dir/<name>.log across restarts."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path, health_url: str | None):
        self.name = name
        self.args = args
        self.env = env
        self.log_path = log_path
        self.health_url = health_url
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            log.write(f"=== harness: start #{self.starts + 1} of {self.name} at {now_utc().isoformat()}\n".encode())
            self.proc = subprocess.Popen(self.args, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.kills += 1
            with self.log_path.open("ab") as log:
                log.write(f"=== harness: SIGKILL {self.name} at {now_utc().isoformat()}\n".encode())

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()

    def wait_stopped(self, seconds: float) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    async def wait_healthy(self, seconds: float = 60.0) -> None:
        if self.health_url is None:
            return
        deadline = time.monotonic() + seconds
        async with httpx.AsyncClient(timeout=2.0, trust_env=False, limits=pool_limits()) as client:
            while time.monotonic() < deadline:
                if not self.alive:
                    raise RuntimeError(
                        f"{self.name} exited ({self.proc and self.proc.returncode}); see {self.log_path}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(self.health_url)).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer {self.health_url} within {seconds:.0f} s")


def run_cli(args: list[str], env: dict[str, str], log_path: Path) -> str:
    """A one-shot calsync command; returns its stdout (wide, so rich does not wrap the API key)."""
    result = subprocess.run(
        [calsync_bin(), *args], cwd=REPO, env={**env, "COLUMNS": "400"}, capture_output=True, text=True, timeout=120
    )
    with log_path.open("a") as log:
        log.write(f"=== harness: calsync {' '.join(args)} -> {result.returncode}\n{result.stdout}{result.stderr}")
    if result.returncode != 0:
        raise RuntimeError(f"calsync {' '.join(args)} failed ({result.returncode}): {result.stderr[-2000:]}")
    return result.stdout


# --- the network between calsync and PostgreSQL ----------------------------------------------------------------


class PgProxy:
    """A TCP relay on 127.0.0.1 between calsync and PostgreSQL. `outage()` is the database going away as a
    client sees a server restart or a failover: open connections are reset and new ones refused, then it is back.
    (PostgreSQL itself is shared with other work on this machine, so it is not restarted.)"""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.listen_port = 0
        self.down = False
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self.connections = 0

    async def start(self) -> None:
        """Listen on a port below the kernel's ephemeral range: while the relay is down, an outgoing connection
        of any process could otherwise be given its port, and the relay could not come back."""
        if not self.listen_port:
            low = ephemeral_ports_start()
            candidates = random.Random().sample(range(max(1025, low - 12000), low - 1), 50)
        else:
            candidates = [self.listen_port] * 100  # the same port again, for up to ~10 s
        error: OSError | None = None
        for port in candidates:
            try:
                self._server = await asyncio.start_server(self._handle, "127.0.0.1", port, reuse_address=True)
            except OSError as exc:
                error = exc
                await asyncio.sleep(0.1 if self.listen_port else 0)
                continue
            self.listen_port = port
            self.down = False
            return
        raise RuntimeError(f"the database relay cannot listen again: {error!r}")

    async def stop(self) -> None:
        self.down = True
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def outage(self, seconds: float) -> None:
        await self.stop()
        try:
            await asyncio.sleep(seconds)
        finally:
            await self.start()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._open.update((writer, upstream_writer))
        try:
            pumps = [
                asyncio.ensure_future(self._pump(reader, upstream_writer)),
                asyncio.ensure_future(self._pump(upstream_reader, writer)),
            ]
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            for pump in pumps:
                pump.cancel()
        finally:
            for end in (writer, upstream_writer):
                self._open.discard(end)
                end.transport.abort() if self.down else end.close()


# --- the webhook receiver ------------------------------------------------------------------------------------


@dataclass
class Delivery:
    received_at: float
    verified: bool
    acked: bool
    answer: str  # "200", "500", "hang", "401"
    trigger: str | None
    calendar_id: str | None
    bot_id: str | None
    idempotency_key: str | None
    ids: set[str]
    truncated: bool
    error: str | None = None


class WebhookReceiver:
    """HTTP/1.1 on 127.0.0.1 that verifies both signature schemes of docs/webhooks.md and records everything.
    During chaos it answers 500, or hangs past calsync's webhook timeout, for a fraction of requests."""

    def __init__(self, seed: int, hang_seconds: float) -> None:
        self.secret: bytes | None = None
        self.mode = "ok"  # ok | error | hang
        self.fault_fraction = 0.5
        self.hang_seconds = hang_seconds
        self.deliveries: list[Delivery] = []
        self.rng = random.Random(seed)
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/calsync-webhook"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def verify(self, headers: dict[str, str], body: bytes) -> tuple[bool, str | None]:
        if self.secret is None:
            return False, "no secret yet"
        key = self.secret

        def sign(message: bytes) -> str:
            return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()

        try:
            if abs(time.time() - int(headers["webhook-timestamp"])) > 300:
                return False, "stale webhook-timestamp"
            expected = sign(f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body)
            if not any(
                hmac.compare_digest(expected, s.removeprefix("v1,")) for s in headers["webhook-signature"].split()
            ):
                return False, "bad webhook-signature"
            payload = json.loads(body)
            canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
            if not hmac.compare_digest(sign(canonical), headers["x-webhook-signature"]):
                return False, "bad X-Webhook-Signature"
            if payload.get("idempotency_key") != headers["webhook-id"]:
                return False, "webhook-id differs from idempotency_key"
        except (KeyError, ValueError) as exc:
            return False, f"unverifiable: {exc!r}"
        return True, None

    def _answer(self) -> str:
        if self.mode == "error" and self.rng.random() < self.fault_fraction:
            return "500"
        if self.mode == "hang" and self.rng.random() < self.fault_fraction:
            return "hang"
        return "200"

    def _record(self, headers: dict[str, str], body: bytes) -> Delivery:
        verified, error = self.verify(headers, body)
        answer = self._answer() if verified else "401"
        payload: dict[str, Any] = {}
        with contextlib.suppress(ValueError):
            payload = json.loads(body)
        changes = (payload.get("data") or {}).get("changes") or {}
        ids: set[str] = set()
        for part in ("created", "updated", "deleted"):
            ids.update((changes.get(part) or {}).get("ids") or [])
        delivery = Delivery(
            received_at=time.time(),
            verified=verified,
            acked=answer == "200",
            answer=answer,
            trigger=payload.get("trigger"),
            calendar_id=payload.get("calendar_id"),
            bot_id=payload.get("bot_id"),
            idempotency_key=payload.get("idempotency_key"),
            ids=ids,
            truncated=bool(changes.get("truncated")),
            error=error,
        )
        self.deliveries.append(delivery)
        return delivery

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    body = b""
                    while True:
                        size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                        chunk = await reader.readexactly(size + 2)
                        if size == 0:
                            break
                        body += chunk[:-2]
                else:
                    body = await reader.readexactly(int(headers.get("content-length", "0")))
                delivery = self._record(headers, body)
                if delivery.answer == "hang":
                    await asyncio.sleep(self.hang_seconds)
                    status = 200
                else:
                    status = int(delivery.answer)
                writer.write(b"HTTP/1.1 %d X\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok" % status)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()


# --- the calsync API as a client sees it ------------------------------------------------------------------------


@dataclass
class ApiCall:
    at: float
    method: str
    path: str
    status: int | None
    error: str | None = None


class Api:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client = httpx.AsyncClient(base_url=base_url, timeout=30.0, trust_env=False, limits=pool_limits())
        self.calls: list[ApiCall] = []

    def authorize(self, key: str) -> None:
        self.client.headers["Authorization"] = f"Token {key}"

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        started = time.time()
        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.calls.append(ApiCall(started, method, path.split("?")[0], None, f"{type(exc).__name__}: {exc}"))
            raise
        self.calls.append(ApiCall(started, method, path.split("?")[0], response.status_code))
        return response

    async def json(self, method: str, path: str, *, expect: int = 200, attempts: int = 1, **kwargs: Any) -> Any:
        """A call that must succeed; `attempts` > 1 retries connection errors (a restarting `serve`)."""
        for attempt in range(attempts):
            try:
                response = await self.request(method, path, **kwargs)
            except httpx.HTTPError:
                if attempt + 1 >= attempts:
                    raise
                await asyncio.sleep(0.5)
                continue
            if response.status_code != expect:
                raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
            return response.json() if response.content else None
        raise AssertionError("unreachable")

    async def pages(self, path: str, params: dict[str, str] | None = None, *, limit: int = 10_000) -> list[Any]:
        rows: list[Any] = []
        page = await self.json("GET", path, params=params, attempts=5)
        for _ in range(limit):
            rows.extend(page["results"])
            if not page.get("next"):
                return rows
            page = await self.json("GET", page["next"], attempts=5)
        raise RuntimeError(f"{path}: more than {limit} pages")

    async def aclose(self) -> None:
        await self.client.aclose()


# --- the world on the emulator -------------------------------------------------------------------------------


@dataclass
class Series:
    master: str
    start: datetime
    freq: str  # DAILY | WEEKLY
    count: int
    minutes: int

    @property
    def step(self) -> timedelta:
        return timedelta(days=1 if self.freq == "DAILY" else 7)

    def rule(self) -> list[str]:
        return [f"RRULE:FREQ={self.freq};COUNT={self.count}"]

    def instance_id(self, index: int) -> str:
        return f"{self.master}_{(self.start + index * self.step).strftime('%Y%m%dT%H%M%SZ')}"


@dataclass
class Cal:
    index: int
    platform: str
    account: dict[str, Any]
    emulator_id: str
    api_id: str = ""
    singles: list[str] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    revoked: bool = False
    changes: int = 0
    last_change: float = 0.0
    dav: DavCalendar | None = None  # a CalDAV calendar (platform "caldav"): Radicale, not the emulator


class World:
    """The emulator's (and Radicale's) calendars and the harness's memory of them, used only to choose valid
    changes; the truth checked at the end is read back from the emulator's platform APIs and from Radicale."""

    def __init__(self, control: EmulatorControl, seed: int, origin: datetime, caldav: CalDavSide | None) -> None:
        self.control = control
        self.caldav = caldav
        self.rng = random.Random(seed)
        self.origin = origin  # emulator time when the world was made; every event lies in origin+3h .. +20d
        self.cals: list[Cal] = []
        self.counter = 0
        self.applied: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()

    # every generated time lies in [origin + 3 h, origin + 20 d), far inside calsync's window (-1 d .. +28 d)
    def slot(self) -> tuple[datetime, datetime]:
        start = self.origin.replace(second=0, microsecond=0) + timedelta(hours=3)
        start += timedelta(minutes=15 * self.rng.randrange(0, 16 * 24 * 4))
        return start, start + timedelta(minutes=self.rng.choice([30, 45, 60, 90]))

    def series_start(self) -> datetime:
        day = self.origin.replace(hour=0, minute=0, second=0, microsecond=0)
        return day + timedelta(days=self.rng.randint(1, 4), hours=self.rng.randint(6, 20))

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix} {self.counter}"

    async def populate(self, cal: Cal, singles: int) -> None:
        for _ in range(singles):
            await self.create_single(cal)
        if self.rng.random() < 0.7:
            await self.create_series(cal)

    async def create_single(self, cal: Cal) -> None:
        start, end = self.slot()
        if cal.dav is not None:
            assert self.caldav is not None
            await self.caldav.create_single(cal.dav, self.name("event"), start, end)
            return
        event = await self.control.create_event(cal.emulator_id, start, end, summary=self.name("event"))
        cal.singles.append(event["id"])

    async def create_series(self, cal: Cal) -> None:
        freq = self.rng.choice(["DAILY", "DAILY", "WEEKLY"])
        count = self.rng.randint(2, 8) if freq == "DAILY" else self.rng.randint(2, 3)
        minutes = self.rng.choice([30, 60])
        start = self.series_start()
        if cal.dav is not None:
            assert self.caldav is not None
            await self.caldav.create_series(cal.dav, self.name("series"), start, freq, count, minutes)
            return
        series = Series("", start, freq, count, minutes)
        event = await self.control.create_event(
            cal.emulator_id,
            start,
            start + timedelta(minutes=minutes),
            summary=self.name("series"),
            recurrence=series.rule(),
        )
        series.master = event["id"]
        cal.series.append(series)

    async def mutate(self) -> str | None:
        """One random change on a random (not revoked) calendar; returns its kind, or None if none applied."""
        live = [cal for cal in self.cals if not cal.revoked]
        if not live:
            return None
        cal = self.rng.choice(live)
        ops = [("create", 12), ("create_series", 3)]
        if cal.dav is not None:
            # A CalDAV client deletes rather than cancels, and moves between accounts are not modelled.
            if cal.dav.singles:
                ops += [("rename", 14), ("move", 14), ("delete", 5)]
        elif cal.singles:
            ops += [("rename", 14), ("move", 14), ("cancel", 4), ("delete", 5), ("move_calendar", 2)]
        if cal.series or (cal.dav is not None and cal.dav.series):
            ops += [
                ("instance_edit", 8),
                ("instance_move", 5),
                ("instance_cancel", 5),
                ("series_rename", 4),
                ("series_shift", 4),
                ("series_count", 4),
                ("series_delete", 2),
            ]
        kinds, weights = zip(*ops, strict=True)
        kind = self.rng.choices(kinds, weights)[0]
        try:
            await self._apply(cal, kind)
        except EmulatorError as exc:
            if exc.status not in (400, 404):
                raise
            self.rejected[kind] += 1  # e.g. an instance the series no longer has
            return None
        self.applied[kind] += 1
        if cal.dav is not None and self.caldav is not None:
            self.caldav.applied[kind] += 1
        cal.changes += 1
        cal.last_change = time.time()
        return kind

    async def _apply(self, cal: Cal, kind: str) -> None:
        control, rng, cid = self.control, self.rng, cal.emulator_id
        if cal.dav is not None and kind not in ("create", "create_series"):
            await self._apply_caldav(cal.dav, kind)
        elif kind == "create":
            await self.create_single(cal)
        elif kind == "create_series":
            await self.create_series(cal)
        elif kind == "rename":
            await control.update_event(cid, rng.choice(cal.singles), summary=self.name("renamed"))
        elif kind == "move":
            start, end = self.slot()
            await control.update_event(cid, rng.choice(cal.singles), start=start, end=end)
        elif kind in ("cancel", "delete"):
            event_id = cal.singles.pop(rng.randrange(len(cal.singles)))
            if kind == "cancel":
                await control.cancel_event(cid, event_id)
            else:
                await control.delete_event(cid, event_id)
        elif kind == "move_calendar":
            targets = [c for c in self.cals if c is not cal and c.platform == cal.platform and not c.revoked]
            if not targets:
                raise EmulatorError(400, "no target calendar")
            target = rng.choice(targets)
            event_id = cal.singles.pop(rng.randrange(len(cal.singles)))
            moved = await control.move_event(cid, event_id, target.emulator_id)
            target.singles.append(moved["id"])
            target.changes += 1
            target.last_change = time.time()
        else:
            series = rng.choice(cal.series)
            instance = series.instance_id(rng.randrange(series.count))
            if kind == "instance_edit":
                await control.update_event(cid, instance, summary=self.name("exception"))
            elif kind == "instance_move":
                original = datetime.strptime(instance.rsplit("_", 1)[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
                start = original + timedelta(minutes=30)
                await control.update_event(cid, instance, start=start, end=start + timedelta(minutes=series.minutes))
            elif kind == "instance_cancel":
                await control.cancel_event(cid, instance)
            elif kind == "series_rename":
                await control.update_event(cid, series.master, summary=self.name("series renamed"))
            elif kind == "series_shift":
                start = series.start + timedelta(hours=rng.choice([-2, -1, 1, 2]))
                await control.update_event(
                    cid, series.master, start=start, end=start + timedelta(minutes=series.minutes)
                )
                series.start = start
            elif kind == "series_count":
                count = rng.randint(2, 8) if series.freq == "DAILY" else rng.randint(2, 3)
                series.count = count
                await control.update_event(cid, series.master, recurrence=series.rule())
            elif kind == "series_delete":
                cal.series.remove(series)
                await control.delete_event(cid, series.master)

    async def _apply_caldav(self, dav: DavCalendar, kind: str) -> None:
        """The same kinds of change on a CalDAV calendar, as a calendar app makes them: whole resources rewritten
        (an instance edited or moved is an override with RECURRENCE-ID, one cancelled an EXDATE)."""
        assert self.caldav is not None
        side, rng = self.caldav, self.rng
        if kind in ("rename", "move", "delete"):
            uid = rng.choice(sorted(dav.singles))
            name, start, end = dav.singles[uid]
            if kind == "delete":
                await side.delete(dav, uid)
                return
            if kind == "rename":
                name = self.name("renamed")
            else:
                start, end = self.slot()
            dav.singles[uid] = (name, start, end)
            await side.put_single(dav, uid)
            return
        series = dav.series[rng.choice(sorted(dav.series))]
        if kind.startswith("instance_"):
            left = [i for i in range(series.count) if i not in series.exdates]
            if not left:
                raise EmulatorError(400, "no instance left")
            index = rng.choice(left)
            name, start = series.overrides.get(index, (series.name, series.occurrence(index)))
            if kind == "instance_edit":
                series.overrides[index] = (self.name("exception"), start)
            elif kind == "instance_move":
                series.overrides[index] = (name, series.occurrence(index) + timedelta(minutes=30))
            else:
                series.exdates.add(index)
                series.overrides.pop(index, None)
        elif kind == "series_rename":
            series.name = self.name("series renamed")
        elif kind == "series_shift":
            # Editing "all events" of a series: calendar apps drop its exceptions.
            series.start += timedelta(hours=rng.choice([-2, -1, 1, 2]))
            series.overrides.clear()
            series.exdates.clear()
        elif kind == "series_count":
            series.count = rng.randint(2, 8) if series.freq == "DAILY" else rng.randint(2, 3)
            series.overrides = {i: o for i, o in series.overrides.items() if i < series.count}
            series.exdates = {i for i in series.exdates if i < series.count}
        elif kind == "series_delete":
            await side.delete(dav, series.uid)
            return
        await side.put_series(dav, series)


# --- truth: the platforms' own listings ------------------------------------------------------------------------


class Truth:
    """Reads each calendar as a client of the emulated platform would: Google `events?singleEvents=true`,
    Graph `calendarView`, over a window that holds every generated event (so window edges never matter)."""

    def __init__(self, emulator_url: str, caldav: CalDavSide | None) -> None:
        self.caldav = caldav
        self.base = emulator_url.rstrip("/")
        self.http = httpx.AsyncClient(timeout=30.0, trust_env=False, limits=pool_limits())
        self.tokens: dict[str, str] = {}

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _token(self, cal: Cal) -> str:
        account = cal.account
        if account["id"] in self.tokens:
            return self.tokens[account["id"]]
        form = {
            "grant_type": "refresh_token",
            "client_id": account["client_id"],
            "client_secret": account["client_secret"],
            "refresh_token": account["refresh_token"],
        }
        url = (
            f"{self.base}/google/token"
            if cal.platform == "google"
            else f"{self.base}/microsoft/login/common/oauth2/v2.0/token"
        )
        response = await self.http.post(url, data=form)
        response.raise_for_status()
        token = str(response.json()["access_token"])
        self.tokens[account["id"]] = token
        return token

    async def events(self, cal: Cal, window: tuple[datetime, datetime]) -> dict[str, tuple[str, datetime, datetime]]:
        """platform id -> (name, start, end) of the live events (instances of series) in the window."""
        if cal.dav is not None:
            assert self.caldav is not None
            return await self.caldav.events(cal.dav, window)
        headers = {"Authorization": f"Bearer {await self._token(cal)}"}
        live: dict[str, tuple[str, datetime, datetime]] = {}
        if cal.platform == "google":
            url = f"{self.base}/google/calendar/v3/calendars/primary/events"
            params: dict[str, str] | None = {
                "singleEvents": "true",
                "timeMin": window[0].isoformat(),
                "timeMax": window[1].isoformat(),
                "maxResults": "2500",
                "timeZone": "UTC",
            }
            for _ in range(100):
                response = await self.http.get(url, params=params, headers=headers)
                response.raise_for_status()
                page = response.json()
                for item in page["items"]:
                    if item.get("status") == "cancelled":
                        continue
                    start = item["start"].get("dateTime") or item["start"]["date"]
                    end = item["end"].get("dateTime") or item["end"]["date"]
                    live[item["id"]] = (item.get("summary") or "", parse_time(start), parse_time(end))
                if "nextPageToken" not in page:
                    return live
                params = {**(params or {}), "pageToken": page["nextPageToken"]}
            raise RuntimeError("google listing: too many pages")
        url = f"{self.base}/microsoft/graph/v1.0/me/calendarView"
        params = {"startDateTime": window[0].isoformat(), "endDateTime": window[1].isoformat(), "$top": "500"}
        headers["Prefer"] = 'outlook.timezone="UTC", odata.maxpagesize=500'
        for _ in range(100):
            response = await self.http.get(url, params=params, headers=headers)
            response.raise_for_status()
            body = response.json()
            for item in body["value"]:
                if item.get("isCancelled"):
                    continue
                live[item["id"]] = (
                    item.get("subject") or "",
                    parse_time(item["start"]["dateTime"]),
                    parse_time(item["end"]["dateTime"]),
                )
            if not body.get("@odata.nextLink"):
                return live
            url, params = body["@odata.nextLink"], None
        raise RuntimeError("graph listing: too many pages")


# --- the harness ---------------------------------------------------------------------------------------------


@dataclass
class Check:
    converged: bool
    violations: dict[str, list[Any]]
    stats: dict[str, Any]


class Harness:
    def __init__(self, options: Options) -> None:
        self.o = options
        self.rng = random.Random(options.seed * 7919 + 1)
        self.run_dir = options.run_dir
        self.emulator: Child | None = None
        self.api_child: Child | None = None
        self.workers: list[Child] = []
        self.serve: Child | None = None
        self.children: list[Child] = []
        self.receiver = WebhookReceiver(options.seed, hang_seconds=options.webhook_timeout + 1.5)
        self.control: EmulatorControl | None = None
        self.api: Api | None = None
        self.world: World | None = None
        self.truth: Truth | None = None
        self.caldav = CalDavSide(options.run_dir, options.seed) if options.caldav else None
        self.webhook_id = ""
        self.database_name = ""
        self.database_url = ""
        self.events: Counter[str] = Counter()  # kills-and-faults by kind
        self.fault_kinds: Counter[str] = Counter()
        self.outages: list[tuple[float, float]] = []  # deliberate database outages (epoch start, end)
        self.notifications: dict[str, dict[str, Any]] = {}
        self.lock_samples: list[int] = []
        self.restarts: set[asyncio.Task[None]] = set()
        self.timeline: dict[str, float] = {}
        self.deadlocks_before = 0
        self.pg_stats_before: dict[str, int] = {}
        self.revoked_cals: list[Cal] = []
        self.pg_log_offsets: dict[Path, int] = {}
        self.proxy: PgProxy | None = None
        self.chaos_log: list[dict[str, Any]] = []
        self.restarting: set[str] = set()
        self.harness_errors: list[str] = []
        self.unexpected_exits: list[dict[str, Any]] = []
        self.last_kill = 0.0
        self.bots = BotSchedule(options.bots)
        # Spans (epoch start, end) when no process could dispatch a bot: the only dispatcher killed until it
        # answered again. Deliberate database outages are in self.outages.
        self.dispatch_down: list[tuple[float, float]] = []

    # -- processes

    def base_env(self, api_port: int, emulator_url: str, key: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALSYNC_")}
        env |= calsync_settings_env(emulator_url)
        env |= {
            "CALSYNC_ENCRYPTION_KEYS": key,
            "CALSYNC_LOG_FORMAT": "json",
            "CALSYNC_LOG_LEVEL": "INFO",
            "CALSYNC_PUBLIC_URL": f"http://127.0.0.1:{api_port}",
            "CALSYNC_WEBHOOK_ALLOW_HTTP": "true",
            "CALSYNC_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "CALSYNC_WEBHOOK_TIMEOUT_SECONDS": str(self.o.webhook_timeout),
            "CALSYNC_WORKER_CONCURRENCY": "4",
            "CALSYNC_WORKER_POLL_INTERVAL_SECONDS": "2",
            "CALSYNC_SYNC_DEBOUNCE_SECONDS": "0.5",
            "CALSYNC_LEASE_SECONDS": str(self.o.lease),
            "CALSYNC_PROVIDER_TIMEOUT_SECONDS": "10",
            # The documented staleness bounds this run exercises: a calendar with a healthy push channel is
            # synced at least this often anyway (dropped notifications), and so is one without.
            "CALSYNC_PUSH_SAFETY_NET_SECONDS": str(self.o.safety_net),
            "CALSYNC_SYNC_FALLBACK_INTERVAL_SECONDS": str(self.o.safety_net),
            # A push receiver that could not reach the database for longer than the gap schedules a catch-up
            # sync of every calendar with a channel (notifications may have been refused meanwhile).
            "CALSYNC_PUSH_HEARTBEAT_SECONDS": "1",
            "CALSYNC_PUSH_CATCHUP_GAP_SECONDS": "3",
            "CALSYNC_DB_POOL_SIZE": "5",
            "CALSYNC_DB_MAX_OVERFLOW": "5",
            "CALSYNC_DATA_DIR": str(self.run_dir / "data"),
            # Radicale's fronts listen on 127.0.0.1 over plain http.
            "CALSYNC_PROVIDER_ALLOW_HTTP": "true",
            "CALSYNC_PROVIDER_ALLOW_PRIVATE_TARGETS": "true",
        }
        if self.database_url:
            env["CALSYNC_DATABASE_URL"] = self.database_url
        return env

    async def pg(self, sql: str, *args: Any) -> Any:
        import asyncpg

        connection = await asyncpg.connect(asyncpg_dsn(self.o.pg_server, "postgres"), timeout=10)
        try:
            return await connection.fetch(sql, *args)
        finally:
            await connection.close()

    async def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "data").mkdir(exist_ok=True)
        self.timeline["start"] = time.time()
        emulator_port, api_port = free_port(), free_port()
        emulator_url = f"http://127.0.0.1:{emulator_port}"
        emulator_env = {k: v for k, v in os.environ.items() if not k.startswith("CALSYNC_")}
        emulator_env |= {"CALSYNC_LOG_FORMAT": "json", "CALSYNC_LOG_LEVEL": "WARNING"}
        self.emulator = Child(
            "emulator",
            [calsync_bin(), "emulator", "--host", "127.0.0.1", "--port", str(emulator_port)],
            emulator_env,
            self.run_dir / "emulator.log",
            f"{emulator_url}/_emulator/health",
        )
        self.children.append(self.emulator)
        self.emulator.start()

        if self.o.db == "postgres":
            self.database_name = f"calsync_chaos_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            await self.pg(f'CREATE DATABASE "{self.database_name}"')
            # Lock waits over half a second are written to the server log (this database only): the report
            # counts them by lock and statement. Deadlock detection runs after the same half second.
            await self.pg(f'ALTER DATABASE "{self.database_name}" SET log_lock_waits = on')
            await self.pg(f"ALTER DATABASE \"{self.database_name}\" SET deadlock_timeout = '500ms'")
            from sqlalchemy.engine import make_url

            server = make_url(self.o.pg_server)
            self.proxy = PgProxy(server.host or "127.0.0.1", server.port or 5432)
            await self.proxy.start()
            self.database_url = server.set(
                host="127.0.0.1", port=self.proxy.listen_port, database=self.database_name
            ).render_as_string(hide_password=False)
            self.note_pg_logs()
            rows = await self.pg("SELECT deadlocks FROM pg_stat_database WHERE datname = $1", self.database_name)
            self.deadlocks_before = int(rows[0]["deadlocks"] or 0) if rows else 0
        cli_log = self.run_dir / "cli.log"
        probe_env = {k: v for k, v in os.environ.items() if not k.startswith("CALSYNC_")}
        encryption_key = (await asyncio.to_thread(run_cli, ["generate-key"], probe_env, cli_log)).strip()
        env = self.base_env(api_port, emulator_url, encryption_key)
        await asyncio.to_thread(run_cli, ["migrate"], env, cli_log)
        created = await asyncio.to_thread(run_cli, ["projects", "create", "chaos"], env, cli_log)
        match = re.search(r"API key \(shown once\):\s*(\S+)", created)
        if match is None:
            raise RuntimeError(f"no API key in: {created!r}")
        api_key = match.group(1)

        await self.receiver.start()
        if self.caldav is not None:
            await self.caldav.start()
        await self.emulator.wait_healthy(30)
        self.control = EmulatorControl(emulator_url, timeout=30)
        self.truth = Truth(emulator_url, self.caldav)
        api_url = f"http://127.0.0.1:{api_port}"
        if self.o.db == "postgres":
            self.api_child = Child(
                "api",
                [calsync_bin(), "api", "--host", "127.0.0.1", "--port", str(api_port)],
                env,
                self.run_dir / "api.log",
                f"{api_url}/health",
            )
            self.workers = [
                Child(f"worker-{i + 1}", [calsync_bin(), "worker"], env, self.run_dir / f"worker-{i + 1}.log", None)
                for i in range(self.o.workers)
            ]
            self.children += [self.api_child, *self.workers]
            for child in [self.api_child, *self.workers]:
                child.start()
            await self.api_child.wait_healthy(60)
        else:
            self.serve = Child(
                "serve",
                [calsync_bin(), "serve", "--host", "127.0.0.1", "--port", str(api_port)],
                env,
                self.run_dir / "serve.log",
                f"{api_url}/health",
            )
            self.children.append(self.serve)
            self.serve.start()
            await self.serve.wait_healthy(60)
        self.api = Api(api_url)
        self.api.authorize(api_key)
        hook = await self.api.json(
            "POST", "/api/v1/webhooks", expect=201, json={"url": self.receiver.url, "triggers": TRIGGERS}
        )
        self.webhook_id = hook["id"]
        self.receiver.secret = base64.b64decode(hook["signing_secret"]["secret"])
        self.timeline["processes_up"] = time.time()

    async def stop(self) -> None:
        for task in list(self.restarts):
            task.cancel()
        await asyncio.gather(*self.restarts, return_exceptions=True)
        for child in reversed(self.children):
            child.terminate()
        for child in reversed(self.children):
            await asyncio.to_thread(child.wait_stopped, 20)
        for closer in (self.api, self.truth, self.control):
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer.aclose()
        await self.receiver.stop()
        if self.caldav is not None:
            await self.caldav.stop()
        if self.proxy is not None:
            await self.proxy.stop()
        if self.database_name and not self.o.keep_database:
            with contextlib.suppress(Exception):
                await self.pg(f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)')

    # -- the world

    async def build_world(self) -> None:
        assert self.control is not None and self.api is not None
        origin = await self.control.now()
        self.world = world = World(self.control, self.o.seed, origin, self.caldav)
        seed = self.o.seed
        clients = {
            "google": (f"{100000000 + seed}-chaos.apps.googleusercontent.com", f"GOCSPX-chaos-{seed}"),
            "microsoft": (str(uuid.uuid5(uuid.NAMESPACE_URL, f"calsync-chaos-{seed}")), f"chaos~secret.{seed}"),
        }
        for i in range(self.o.calendars):
            platform = "google" if i % 2 == 0 else "microsoft"
            client_id, client_secret = clients[platform]
            account = await self.control.create_account(
                platform, client_id=client_id, client_secret=client_secret, display_name=f"Chaos {i}"
            )
            cal = Cal(i, platform, account, account["primary_calendar_id"])
            world.cals.append(cal)
            await world.populate(cal, singles=3)
        for i in range(self.o.calendars, self.o.calendars + self.o.caldav):
            assert self.caldav is not None
            dav = await self.caldav.new_calendar(i)
            cal = Cal(i, "caldav", {"id": dav.dav.user}, dav.collection, dav=dav)
            world.cals.append(cal)
            await world.populate(cal, singles=3)
        semaphore = asyncio.Semaphore(8)

        async def connect(cal: Cal) -> None:
            body = (
                cal.dav.connect_body()
                if cal.dav is not None
                else {
                    "platform": cal.platform,
                    "client_id": cal.account["client_id"],
                    "client_secret": cal.account["client_secret"],
                    "refresh_token": cal.account["refresh_token"],
                }
            )
            body |= {"deduplication_key": f"chaos-{cal.index}", "metadata": {"index": str(cal.index)}}
            async with semaphore:
                created = await self.api_json("POST", "/api/v1/calendars", expect=201, json=body)
            cal.api_id = created["id"]

        await asyncio.gather(*(connect(cal) for cal in world.cals))
        self.timeline["calendars_connected"] = time.time()

    async def api_json(self, method: str, path: str, **kwargs: Any) -> Any:
        assert self.api is not None
        return await self.api.json(method, path, **kwargs)

    async def wait_initial_sync(self, seconds: float = 120.0) -> dict[str, Any]:
        assert self.api is not None
        deadline = time.monotonic() + seconds
        rows: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            rows = await self.api.pages("/api/v1/calendars")
            synced = [r for r in rows if r["last_successful_sync_at"]]
            pushed = [r for r in rows if r["push"]["state"] == "active"]
            with_push = [r for r in rows if r["platform"] != "caldav"]  # CalDAV has no push: polled
            if len(synced) == len(rows) == self.o.calendars + self.o.caldav and len(pushed) == len(with_push):
                break
            await asyncio.sleep(1.0)
        self.timeline["initial_sync_done"] = time.time()
        return {
            "calendars": len(rows),
            "synced": sum(1 for r in rows if r["last_successful_sync_at"]),
            "push_active": sum(1 for r in rows if r["push"]["state"] == "active"),
            "seconds": round(self.timeline["initial_sync_done"] - self.timeline["calendars_connected"], 1),
        }

    async def create_bots(self) -> None:
        """Bots whose dispatch times spread over the chaos window (the chaos starts right after)."""
        first_due = now_utc() + timedelta(seconds=5)
        last_due = first_due + timedelta(seconds=max(1.0, self.o.chaos_seconds - 10))

        async def post(body: dict[str, Any]) -> dict[str, Any]:
            created: dict[str, Any] = await self.api_json("POST", "/api/v1/bots", expect=201, json=body)
            return created

        await self.bots.create(post, first_due, last_due)
        self.timeline["bots_created"] = time.time()

    # -- chaos

    async def chaos(self) -> None:
        assert self.world is not None
        self.timeline["chaos_start"] = time.time()
        deadline = time.monotonic() + self.o.chaos_seconds
        tasks = [
            asyncio.create_task(self._mutator(deadline), name="mutator"),
            asyncio.create_task(self._monkey(deadline), name="monkey"),
            asyncio.create_task(self._reader(deadline), name="reader"),
            asyncio.create_task(self._observer(deadline), name="observer"),
        ]
        if self.caldav is not None:
            faults = self.caldav.chaos(deadline, self.o.chaos_interval * 8, self.o.safety_net, self.note)
            tasks.append(asyncio.create_task(faults, name="caldav faults"))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self.timeline["chaos_end"] = time.time()

    async def _mutator(self, deadline: float) -> None:
        assert self.world is not None
        interval = 1.0 / max(0.1, self.o.rate)
        next_at = time.monotonic()
        revoke_at = sorted(self.rng.uniform(0.15, 0.6) * self.o.chaos_seconds for _ in range(self.o.revoke))
        started = time.monotonic()
        while time.monotonic() < deadline:
            while revoke_at and time.monotonic() - started >= revoke_at[0]:
                revoke_at.pop(0)
                await self._revoke_one()
            await self.world.mutate()
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def _revoke_one(self) -> None:
        assert self.world is not None and self.control is not None
        candidates = [c for c in self.world.cals if not c.revoked]
        if len(candidates) < 2:
            return
        cal = self.rng.choice(candidates)
        cal.revoked = True
        if cal.dav is not None:
            assert self.caldav is not None
            self.caldav.revoke(cal.dav)
        else:
            await self.control.revoke_grant(cal.account["id"], "revoked")
        self.revoked_cals.append(cal)
        self.events["grant_revoked"] += 1
        self.note("grant_revoked", calendar=cal.api_id, account=cal.account["id"])

    async def _monkey(self, deadline: float) -> None:
        actions: list[tuple[str, float]]
        if self.o.db == "postgres":
            actions = [
                ("kill_worker", 14),
                ("pg_terminate", 9),
                ("db_outage", 3),
                ("emulator_fault", 58),
                ("receiver_fault", 16),
            ]
        else:
            actions = [("kill_serve", 8), ("emulator_fault", 70), ("receiver_fault", 22)]
        names, weights = zip(*actions, strict=True)
        active_faults: list[tuple[float, str]] = []
        receiver_until = 0.0
        while time.monotonic() < deadline:
            await asyncio.sleep(self.rng.expovariate(1.0 / self.o.chaos_interval))
            now = time.monotonic()
            if now >= deadline:
                break
            for expires, fault_id in [f for f in active_faults if f[0] <= now]:
                active_faults.remove((expires, fault_id))
                with contextlib.suppress(EmulatorError):
                    assert self.control is not None
                    await self.control.remove_fault(fault_id)
            if receiver_until and now >= receiver_until:
                self.receiver.mode, receiver_until = "ok", 0.0
                self.note("receiver_ok")
            action = self.rng.choices(names, weights)[0]
            if action in ("kill_worker", "kill_serve") and now - self.last_kill < self.o.min_kill_gap:
                action = "emulator_fault"
            if action == "kill_worker":
                if not self._kill_and_restart(self.rng.choice(self.workers)):
                    action = "emulator_fault"
            elif action == "kill_serve":
                assert self.serve is not None
                if not self._kill_and_restart(self.serve):
                    action = "emulator_fault"
            elif action == "pg_terminate":
                rows = await self.pg(
                    "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity"
                    " WHERE datname = $1 AND pid <> pg_backend_pid()",
                    self.database_name,
                )
                self.events["backends_terminated"] += int(rows[0]["n"])
                self.note("pg_terminate", backends=int(rows[0]["n"]))
            elif action == "db_outage":
                if self.outages and self.outages[-1][1] == 0.0:
                    action = "emulator_fault"  # one at a time
                else:
                    self.background(self._db_outage(self.rng.uniform(1.0, 5.0)), "db_outage")
            if action == "emulator_fault":
                expires, fault_id = await self._emulator_fault()
                if fault_id:
                    active_faults.append((now + expires, fault_id))
            elif action == "receiver_fault":
                self.receiver.mode = self.rng.choice(["error", "hang"])
                self.receiver.fault_fraction = self.rng.uniform(0.3, 0.7)
                self.events[f"receiver_{self.receiver.mode}"] += 1
                receiver_until = now + self.rng.uniform(2.0, 5.0)
                self.note(
                    f"receiver_{self.receiver.mode}",
                    fraction=round(self.receiver.fault_fraction, 2),
                    seconds=round(receiver_until - now, 1),
                )
            if action not in ("receiver_fault",):
                self.events[action] += 1

    def _kill_and_restart(self, child: Child) -> bool:
        if not child.alive:
            return False
        child.kill()
        killed_at = time.time()
        only_dispatcher = child is self.serve or (child in self.workers and len(self.workers) == 1)
        self.last_kill = time.monotonic()
        self.note("sigkill", process=child.name)
        delay = self.rng.uniform(0.3, 2.5)

        async def restart() -> None:
            try:
                await asyncio.sleep(delay)
                if not child.alive:
                    child.start()
                    self.note("restart", process=child.name)
            finally:
                self.restarting.discard(child.name)
            with contextlib.suppress(RuntimeError):
                await child.wait_healthy(60)
            if only_dispatcher:
                self.dispatch_down.append((killed_at, time.time()))

        self.restarting.add(child.name)
        self.background(restart(), f"restart {child.name}")
        return True

    def background(self, coro: Any, what: str) -> None:
        """A chaos task running beside the others; its failure is the harness's, reported, never silent."""
        task = asyncio.create_task(coro, name=what)
        self.restarts.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self.restarts.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                self.harness_errors.append(f"{what}: {finished.exception()!r}")
                self.note("harness_error", what=what, error=repr(finished.exception()))

        task.add_done_callback(done)

    def supervise(self) -> None:
        """Like a process supervisor: a calsync process that exited by itself (not killed here) is an
        unexpected exit, reported, and started again."""
        for child in self.children:
            if child.alive or child.name in self.restarting or child.proc is None:
                continue
            code = child.proc.returncode
            self.unexpected_exits.append({"process": child.name, "exit_code": code, "at": now_utc().isoformat()})
            self.note("unexpected_exit", process=child.name, exit_code=code)
            child.start()

    async def _db_outage(self, seconds: float) -> None:
        name = self.database_name
        started = time.time()
        self.outages.append((started, 0.0))
        self.note("db_outage", mode=self.o.db_outage, seconds=round(seconds, 1))
        try:
            if self.o.db_outage == "proxy":
                assert self.proxy is not None
                await self.proxy.outage(seconds)
                return
            await self.pg(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            await self.pg(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            await asyncio.sleep(seconds)
        finally:
            if self.o.db_outage == "refuse":
                await self.pg(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
            self.outages[-1] = (started, time.time())
            self.note("db_outage_end")

    def note(self, action: str, **detail: Any) -> None:
        self.chaos_log.append({"at": now_utc().isoformat(), "action": action, **detail})

    async def _emulator_fault(self) -> tuple[float, str | None]:
        assert self.control is not None
        rng = self.rng
        kind = rng.choices(
            [
                "throttle_429",
                "application_throttled_429",
                "rate_limit_403",
                "user_rate_limit_403",
                "error_500",
                "error_503",
                "error_504",
                "latency",
                "drop_notifications",
            ],
            [10, 4, 6, 3, 10, 8, 5, 12, 14],
        )[0]
        platform = rng.choice(["google", "microsoft", None])
        if kind == "application_throttled_429":
            platform = "microsoft"
        if kind in ("rate_limit_403", "user_rate_limit_403"):
            platform = "google"
        path = (
            None
            if kind == "drop_notifications"
            else rng.choice([None, None, "/token", "/events", "calendarView", "/subscriptions", "/watch"])
        )
        count: int | None = None
        fraction: float | None = None
        if kind in ("latency", "drop_notifications") or rng.random() < 0.5:
            fraction = round(rng.uniform(0.2, 0.8), 2)
        else:
            count = rng.randint(1, 8)
        retry_after = rng.randint(1, 3) if kind in ("throttle_429", "application_throttled_429", "error_503") else None
        latency = rng.randint(200, 2500) if kind == "latency" else 0
        rule = await self.control.add_fault(
            kind,
            platform=platform,  # type: ignore[arg-type]
            path_contains=path,
            count=count,
            fraction=fraction,
            retry_after=retry_after,
            latency_ms=latency,
        )
        self.fault_kinds[kind] += 1
        seconds = rng.uniform(2.0, 6.0)
        self.note(
            "emulator_fault",
            kind=kind,
            platform=platform,
            path=path,
            count=count,
            fraction=fraction,
            retry_after=retry_after,
            latency_ms=latency,
            seconds=round(seconds, 1),
        )
        return seconds, rule.get("id")

    async def _reader(self, deadline: float) -> None:
        """A customer polling the API during chaos (its 5xx are violations, connection errors are not)."""
        assert self.world is not None and self.api is not None
        while time.monotonic() < deadline:
            cal = self.rng.choice(self.world.cals)
            with contextlib.suppress(httpx.HTTPError):
                if self.rng.random() < 0.7:
                    await self.api.request(
                        "GET", "/api/v1/calendar_events", params={"calendar_id": cal.api_id, "include_raw": "false"}
                    )
                else:
                    await self.api.request("GET", f"/api/v1/calendars/{cal.api_id}")
            await asyncio.sleep(self.rng.uniform(0.3, 0.9))

    async def _observer(self, deadline: float) -> None:
        """Copies the emulator's notification log (a ring) and samples PostgreSQL lock waits."""
        next_copy = 0.0
        while time.monotonic() < deadline:
            self.supervise()
            if time.monotonic() >= next_copy:
                await self.copy_notifications()
                next_copy = time.monotonic() + 5.0
            if self.database_name:
                with contextlib.suppress(Exception):
                    rows = await self.pg(
                        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
                        self.database_name,
                    )
                    self.lock_samples.append(int(rows[0]["n"]))
            await asyncio.sleep(1.0)

    async def copy_notifications(self) -> None:
        assert self.control is not None
        with contextlib.suppress(httpx.HTTPError, EmulatorError):
            for record in await self.control.notifications(limit=10_000):
                self.notifications[record["id"]] = record

    # -- settle and check

    async def calm(self) -> None:
        """Stop the chaos: no faults, a healthy receiver, every process running."""
        assert self.control is not None
        await self.control.clear_faults()
        if self.caldav is not None:
            await self.caldav.calm()
        self.receiver.mode = "ok"
        self.note("calm")
        for task in list(self.restarts):
            with contextlib.suppress(Exception):
                await task
        self.supervise()
        for child in self.children:
            await child.wait_healthy(60)

    async def settle(self) -> tuple[Check, float]:
        self.timeline["settle_start"] = started = time.time()
        deadline = time.monotonic() + self.o.settle_seconds
        while True:
            self.supervise()
            check = await self.check()
            if check.converged or time.monotonic() >= deadline:
                break
            await asyncio.sleep(2.0)
        self.timeline["settle_end"] = time.time()
        return check, time.time() - started

    async def check(self) -> Check:
        """The state assertions (everything except logs, 5xx and deadlocks, which are final-only)."""
        assert self.api is not None and self.world is not None and self.truth is not None and self.control is not None
        violations: dict[str, list[Any]] = defaultdict(list)
        origin = self.world.origin
        window = (origin - timedelta(hours=12), origin + timedelta(days=27))
        calendars = {row["id"]: row for row in await self.api.pages("/api/v1/calendars")}
        events = await self.api.pages("/api/v1/calendar_events", {"include_raw": "false"}, limit=100_000)
        by_cal: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for event in events:
            by_cal[event["calendar_id"]].append(event)

        # state: revoked calendars disconnected with grant_revoked, no other disconnected
        revoked_ids = {cal.api_id for cal in self.revoked_cals}
        for cal in self.world.cals:
            row = calendars.get(cal.api_id)
            if row is None:
                violations["wrong_disconnects"].append({"calendar": cal.api_id, "problem": "calendar missing"})
                continue
            if cal.api_id in revoked_ids:
                code = (row.get("connection_failure_data") or {}).get("code")
                if row["state"] != "disconnected" or code != "grant_revoked":
                    violations["revoked_not_disconnected"].append(
                        {"calendar": cal.api_id, "state": row["state"], "code": code}
                    )
            elif row["state"] != "connected":
                violations["wrong_disconnects"].append(
                    {"calendar": cal.api_id, "state": row["state"], "failure": row.get("connection_failure_data")}
                )

        # events against the platforms' truth
        truth_count = 0
        truth_by_platform: Counter[str] = Counter()
        for cal in self.world.cals:
            if cal.revoked:
                continue
            truth = await self.truth.events(cal, window)
            truth_count += len(truth)
            truth_by_platform[cal.platform] += len(truth)
            rows = by_cal.get(cal.api_id, [])
            live: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for row in rows:
                if not row["is_deleted"]:
                    live[row["platform_uuid"]].append(row)
            for platform_id, copies in live.items():
                if len(copies) > 1:
                    violations["duplicated"].append(
                        {"calendar": cal.api_id, "platform_id": platform_id, "events": [c["id"] for c in copies]}
                    )
            for platform_id, (name, start, end) in truth.items():
                copies = live.get(platform_id)
                if not copies:
                    violations["lost"].append(
                        {"calendar": cal.api_id, "platform": cal.platform, "platform_id": platform_id, "name": name}
                    )
                    continue
                mirror = copies[0]
                have = (mirror["name"] or "", parse_time(mirror["start_time"]), parse_time(mirror["end_time"]))
                if have != (name, start, end):
                    violations["stale"].append(
                        {
                            "calendar": cal.api_id,
                            "platform": cal.platform,
                            "platform_id": platform_id,
                            "platform_says": [name, start.isoformat(), end.isoformat()],
                            "calsync_says": [have[0], have[1].isoformat(), have[2].isoformat()],
                            "updated_at": mirror["updated_at"],
                        }
                    )
            for platform_id, copies in live.items():
                if platform_id not in truth:
                    violations["stale"].append(
                        {
                            "calendar": cal.api_id,
                            "platform": cal.platform,
                            "platform_id": platform_id,
                            "problem": "gone on the platform, live in calsync",
                            "calsync_says": [copies[0]["name"], copies[0]["start_time"], copies[0]["end_time"]],
                            "updated_at": copies[0]["updated_at"],
                        }
                    )

        # every event announced (verified and acknowledged) after its last change
        announced: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in self.receiver.deliveries:
            if delivery.verified and delivery.acked and delivery.trigger == "calendar.events_update":
                announced[delivery.calendar_id or ""].append(delivery)
        for event in events:
            changed = parse_time(event["updated_at"]).timestamp()
            if not any(
                d.received_at >= changed and (event["id"] in d.ids or d.truncated)
                for d in announced.get(event["calendar_id"], [])
            ):
                violations["unannounced"].append(
                    {"calendar": event["calendar_id"], "event": event["id"], "updated_at": event["updated_at"]}
                )
        for cal in self.revoked_cals:
            if not any(
                d.verified and d.acked and d.trigger == "calendar.state_change" and d.calendar_id == cal.api_id
                for d in self.receiver.deliveries
            ):
                violations["revoked_not_announced"].append({"calendar": cal.api_id})
        unverified = [d for d in self.receiver.deliveries if not d.verified]
        for delivery in unverified:
            violations["unverified_deliveries"].append({"key": delivery.idempotency_key, "error": delivery.error})

        # the outbox: nothing delivering or pending (a pending retry is not a violation by itself while
        # settling; stuck = delivering, or pending without an attempt and due over 30 s ago)
        delivering = await self.api.pages(f"/api/v1/webhooks/{self.webhook_id}/deliveries", {"status": "delivering"})
        pending = await self.api.pages(f"/api/v1/webhooks/{self.webhook_id}/deliveries", {"status": "pending"})
        failed = await self.api.pages(f"/api/v1/webhooks/{self.webhook_id}/deliveries", {"status": "failed"})
        old = now_utc() - timedelta(seconds=30)
        for row in delivering:
            violations["stuck_deliveries"].append(
                {
                    "delivery": row["id"],
                    "status": "delivering",
                    "attempts": row["attempts"],
                    "next": row["next_attempt_at"],
                }
            )
        for row in pending:
            if row["attempts"] == 0 and row["next_attempt_at"] and parse_time(row["next_attempt_at"]) < old:
                violations["stuck_deliveries"].append(
                    {"delivery": row["id"], "status": "pending", "attempts": 0, "next": row["next_attempt_at"]}
                )
        for row in failed:
            violations["failed_deliveries"].append({"delivery": row["id"], "last_error": row.get("last_error")})

        bots = await self.api.pages("/api/v1/bots")
        unavailable = self.dispatch_down + [(start, end or time.time()) for start, end in self.outages]
        bot_violations, bot_stats = self.bots.check(bots, self.receiver.deliveries, unavailable)
        for name, found in bot_violations.items():
            violations[name].extend(found)

        converged = not any(violations.values()) and not pending
        stats = {
            "truth_events": truth_count,
            "truth_events_by_platform": dict(truth_by_platform),
            "calsync_rows": len(events),
            "calsync_live": sum(1 for e in events if not e["is_deleted"]),
            "deliveries_pending": len(pending),
            "deliveries_delivering": len(delivering),
            "calendars_push_active": sum(1 for row in calendars.values() if row["push"]["state"] == "active"),
            "calendars_with_sync_error": sum(1 for row in calendars.values() if row.get("last_sync_error")),
            "bots": bot_stats,
        }
        return Check(converged, dict(violations), stats)

    # -- final-only checks

    def push_answers(self) -> dict[str, Any]:
        """calsync's answers to the emulator's notifications: 5xx are violations, except a 503 during a
        deliberate database outage (counted apart; convergence shows whether it was caught up)."""
        counts: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        bad: list[dict[str, Any]] = []
        for record in self.notifications.values():
            status = record.get("status")
            if record.get("dropped"):
                counts["dropped_by_fault"] += 1
            elif status is None:
                counts["unanswered"] += 1  # connection refused (serve restarting) or timed out
                errors[str(record.get("error"))[:120]] += 1
            elif status >= 500:
                at = parse_time(record["at"]).timestamp()
                in_outage = any(start - 1 <= at <= (end or time.time()) + 3 for start, end in self.outages)
                if status == 503 and in_outage:
                    counts["503_during_db_outage"] += 1
                else:
                    counts["5xx"] += 1
                    bad.append({k: record.get(k) for k in ("at", "platform", "kind", "status", "url")})
            else:
                counts[str(status)] += 1
        return {
            "counts": dict(counts),
            "unanswered_errors": dict(errors.most_common(5)),
            "violations": bad,
            "total": len(self.notifications),
        }

    def api_answers(self) -> dict[str, Any]:
        counts: Counter[str] = Counter()
        bad: list[dict[str, Any]] = []
        for call in self.api.calls if self.api else []:
            if call.status is None:
                counts["connection_error"] += 1
            elif call.status >= 500:
                in_outage = any(start - 1 <= call.at <= (end or time.time()) + 3 for start, end in self.outages)
                if call.status == 503 and in_outage:
                    counts["503_during_db_outage"] += 1
                else:
                    counts["5xx"] += 1
                    bad.append(
                        {
                            "at": datetime.fromtimestamp(call.at, UTC).isoformat(),
                            "call": f"{call.method} {call.path}",
                            "status": call.status,
                        }
                    )
            else:
                counts[str(call.status)] += 1
        return {"counts": dict(counts), "violations": bad, "total": len(self.api.calls) if self.api else 0}

    async def pg_stats(self) -> dict[str, Any]:
        if not self.database_name:
            return {}
        rows = await self.pg(
            "SELECT deadlocks, xact_commit, xact_rollback, conflicts FROM pg_stat_database WHERE datname = $1",
            self.database_name,
        )
        if not rows:
            return {}
        row = dict(rows[0])
        row["deadlocks_during_run"] = int(row["deadlocks"] or 0) - self.deadlocks_before
        return row

    def note_pg_logs(self) -> None:
        """Where the server logs end now (read later for the deadlocks' DETAIL, where they are readable)."""
        for log in Path("/var/log/postgresql").glob("*.log"):
            with contextlib.suppress(OSError):
                self.pg_log_offsets[log] = log.stat().st_size

    def pg_log_lock_waits(self) -> dict[str, Any]:
        """`log_lock_waits` lines of this database: how often a statement waited over 0.5 s, and for what."""
        waits: Counter[str] = Counter()
        longest = 0.0
        pattern = re.compile(r"still waiting for (\w+) on (\w+).* after ([\d.]+) ms")
        acquired = re.compile(r"acquired (\w+) on (\w+).* after ([\d.]+) ms")
        for log, offset in self.pg_log_offsets.items():
            try:
                with log.open("rb") as handle:
                    handle.seek(offset)
                    lines = handle.read().decode(errors="replace").splitlines()
            except OSError:
                continue
            for i, line in enumerate(lines):
                if f"@{self.database_name} LOG:" not in line:
                    continue
                if match := pattern.search(line):
                    statement = ""
                    for follow in lines[i + 1 : i + 8]:
                        if " STATEMENT: " in follow:
                            statement = " ".join(follow.split(" STATEMENT: ", 1)[1].split())[:110]
                            break
                    waits[f"{match.group(1)} on {match.group(2)}: {statement}"] += 1
                elif match := acquired.search(line):
                    longest = max(longest, float(match.group(3)) / 1000)
        return {
            "over_0_5_s": sum(waits.values()),
            "longest_seconds": round(longest, 2),
            "by_statement": dict(waits.most_common(8)),
        }

    def pg_log_deadlocks(self) -> list[str]:
        """The server log's account of each deadlock in this database (PostgreSQL logs who waited for what)."""
        found: list[str] = []
        for log, offset in self.pg_log_offsets.items():
            try:
                with log.open("rb") as handle:
                    handle.seek(offset)
                    lines = handle.read().decode(errors="replace").splitlines()
            except OSError:
                continue
            for i, line in enumerate(lines):
                if f"@{self.database_name} ERROR:  deadlock detected" in line:
                    detail = [line.split("ERROR:", 1)[1].strip()]
                    for follow in lines[i + 1 : i + 12]:
                        if follow.startswith("\t") or " DETAIL: " in follow or " CONTEXT: " in follow:
                            detail.append(" ".join(follow.split()))
                        elif " STATEMENT: " in follow:
                            detail.append(" ".join(follow.split()))
                            break
                        else:
                            break
                    found.append(" | ".join(detail)[:1200])
        return found

    async def metrics(self) -> dict[str, float]:
        """Selected series of GET /metrics (the api process on PostgreSQL, `serve` on SQLite)."""
        assert self.api is not None
        try:
            text = (await self.api.client.get("/metrics")).text
        except httpx.HTTPError:
            return {}
        wanted = re.compile(r"push_notifications|syncs_total|lock|wait|retr|deadlock|pool|db_|transient|outbox")
        out: dict[str, float] = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            family = name.split("{")[0]
            if wanted.search(family) and not family.endswith(("_created", "_bucket")):
                with contextlib.suppress(ValueError):
                    out[name] = float(value)
        return out

    def scan_logs(self) -> dict[str, Any]:
        """Error/critical JSON lines and tracebacks in every calsync log; 'deadlock detected' anywhere."""
        errors: list[dict[str, Any]] = []
        emulator_errors: list[dict[str, Any]] = []
        deadlock_lines: list[str] = []
        warnings: Counter[str] = Counter()
        for path in sorted(self.run_dir.glob("*.log")):
            process_kind = "emulator" if path.name == "emulator.log" else path.stem
            in_traceback = False
            for line in path.read_text(errors="replace").splitlines():
                if "deadlock detected" in line:
                    deadlock_lines.append(f"{path.name}: {line[:400]}")
                if line.startswith("=== harness:"):
                    in_traceback = False
                    continue
                record: dict[str, Any] | None = None
                if line.startswith("{"):
                    with contextlib.suppress(ValueError):
                        record = json.loads(line)
                if record is not None:
                    level = str(record.get("level", "")).lower()
                    if level in ("error", "critical", "exception", "fatal") or "exception" in record:
                        (emulator_errors if process_kind == "emulator" else errors).append(
                            {
                                "log": path.name,
                                "event": str(record.get("event"))[:200],
                                "timestamp": record.get("timestamp"),
                                "error": exception_summary(str(record.get("exception", ""))),
                            }
                        )
                    elif level == "warning":
                        warnings[f"{process_kind}: {record.get('event')}"] += 1
                    continue
                if "Traceback (most recent call last)" in line and not in_traceback:
                    in_traceback = True
                    (emulator_errors if process_kind == "emulator" else errors).append(
                        {"log": path.name, "event": "Traceback (plain text)", "line": line[:200]}
                    )
        grouped: Counter[str] = Counter(
            f"{e['log'].removesuffix('.log').rsplit('-', 1)[0]}: {e['event']}: {e.get('error', '')[:160]}"
            for e in errors
        )
        return {
            "errors": errors,
            "error_groups": dict(grouped.most_common()),
            "deadlock_lines": deadlock_lines,
            "emulator_errors": emulator_errors[:SHOW],
            "warnings": dict(warnings.most_common(20)),
        }


def exception_summary(text: str) -> str:
    """The last `SomeError: message` line of a logged traceback (the exception that surfaced)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Timeout|Cancelled)\w*(:|$)", line):
            return line[:300]
    return lines[-1][:300] if lines else ""


# --- the run -------------------------------------------------------------------------------------------------


def count_violations(violations: dict[str, Any]) -> dict[str, int]:
    return {name: (value if isinstance(value, int) else len(value)) for name, value in violations.items()}


async def run(options: Options) -> dict[str, Any]:
    harness = Harness(options)
    report: dict[str, Any] = {
        "db": options.db,
        "seed": options.seed,
        "calendars": options.calendars,
        "caldav_calendars": options.caldav,
        "workers": options.workers if options.db == "postgres" else 0,
        "chaos_seconds": options.chaos_seconds,
        "safety_net_seconds": options.safety_net,
        "settle_deadline_seconds": options.settle_seconds,
        "run_dir": str(options.run_dir),
    }
    print(
        f"chaos: {options.db}, {options.calendars} calendars, {options.chaos_seconds:.0f} s, logs in {options.run_dir}"
    )
    try:
        await harness.start()
        await harness.build_world()
        report["initial_sync"] = await harness.wait_initial_sync()
        await harness.create_bots()
        print(
            f"chaos: initial sync {report['initial_sync']}; {options.bots} bots due during the chaos;"
            f" chaos for {options.chaos_seconds:.0f} s"
        )
        await harness.chaos()
        await harness.calm()
        print(f"chaos: settling (deadline {options.settle_seconds:.0f} s, no manual sync)")
        check, settle_seconds = await harness.settle()
        await harness.copy_notifications()
        report["metrics"] = await harness.metrics()
        report["postgres"] = await harness.pg_stats()
        report["postgres_log_deadlocks"] = harness.pg_log_deadlocks()[:SHOW]
        report["postgres_lock_waits"] = harness.pg_log_lock_waits()
    finally:
        await harness.stop()
        with (options.run_dir / "chaos-events.jsonl").open("w") as events_file:
            for entry in harness.chaos_log:
                events_file.write(json.dumps(entry, default=str) + "\n")
        with (options.run_dir / "notifications.jsonl").open("w") as notes_file:
            for record in sorted(harness.notifications.values(), key=lambda r: str(r.get("at"))):
                notes_file.write(json.dumps(record, default=str) + "\n")
    logs = harness.scan_logs()
    push = harness.push_answers()
    api = harness.api_answers()
    assert harness.world is not None
    world = harness.world
    violations: dict[str, Any] = {
        name: check.violations.get(name, [])
        for name in (
            "lost",
            "stale",
            "duplicated",
            "unannounced",
            "unverified_deliveries",
            "stuck_deliveries",
            "failed_deliveries",
            "wrong_disconnects",
            "revoked_not_disconnected",
            "revoked_not_announced",
            *BOT_VIOLATIONS,
        )
    }
    violations["api_5xx"] = api["violations"]
    violations["push_5xx"] = push["violations"]
    violations["deadlocks"] = int((report.get("postgres") or {}).get("deadlocks_during_run") or 0)
    violations["deadlock_log_lines"] = logs["deadlock_lines"]
    violations["log_errors"] = logs["errors"]
    violations["unexpected_exits"] = harness.unexpected_exits
    violations["harness_errors"] = harness.harness_errors
    counts = count_violations(violations)
    deliveries = harness.receiver.deliveries
    kills = sum(child.kills for child in harness.children)
    faults = sum(harness.fault_kinds.values())
    report |= {
        "converged": check.converged,
        "settle_seconds": round(settle_seconds, 1),
        "violation_count": sum(counts.values()),
        "violation_counts": counts,
        "violations": {
            name: (value[:SHOW] if isinstance(value, list) else value) for name, value in violations.items()
        },
        "activity": {
            "platform_changes": sum(world.applied.values()),
            "platform_changes_by_kind": dict(world.applied.most_common()),
            "rejected_changes": dict(world.rejected.most_common()),
            "kills": kills,
            "chaos_events": dict(harness.events.most_common()),
            "emulator_faults": dict(harness.fault_kinds.most_common()),
            "kills_and_faults": kills
            + faults
            + sum(
                v
                for k, v in harness.events.items()
                if k.startswith("receiver_") or k in ("pg_terminate", "db_outage", "grant_revoked")
            ),
            "db_outages": [[round(end - start, 1)] for start, end in harness.outages],
            "revoked_calendars": [cal.api_id for cal in harness.revoked_cals],
            "deliveries_received": len(deliveries),
            "deliveries_acked": sum(1 for d in deliveries if d.acked),
            "deliveries_by_answer": dict(Counter(d.answer for d in deliveries)),
            "unique_deliveries": len({d.idempotency_key for d in deliveries}),
            "push_notifications": push["total"],
            "push_answers": push["counts"],
            "push_unanswered_errors": push["unanswered_errors"],
            "api_calls": api["total"],
            "api_answers": api["counts"],
            "caldav": harness.caldav.report(options.caldav) if harness.caldav is not None else {},
            "lock_waiters_sampled": {
                "samples": len(harness.lock_samples),
                "max": max(harness.lock_samples, default=0),
                "p95": pct(harness.lock_samples, 0.95) if harness.lock_samples else 0,
            },
        },
        "final_state": check.stats,
        "log_error_groups": logs["error_groups"],
        "log_warnings": logs["warnings"],
        "emulator_log_errors": logs["emulator_errors"],
        "timeline": {k: round(v - harness.timeline["start"], 1) for k, v in harness.timeline.items()},
    }
    return report


def print_report(report: dict[str, Any]) -> None:
    counts = report["violation_counts"]
    rows = [[name, count, "ok" if count == 0 else "VIOLATION"] for name, count in counts.items()]
    print_table(f"chaos report ({report['db']}, seed {report['seed']})", ["check", "count", "result"], rows)
    activity = report["activity"]
    facts = [
        ["calendars", report["calendars"]],
        ["workers", report["workers"] or "serve (1 process)"],
        ["chaos seconds", report["chaos_seconds"]],
        ["platform changes", activity["platform_changes"]],
        ["CalDAV (Radicale)", activity["caldav"]],
        ["kills", activity["kills"]],
        ["kills + faults events", activity["kills_and_faults"]],
        ["chaos events", activity["chaos_events"]],
        ["webhook deliveries received / acked", f"{activity['deliveries_received']} / {activity['deliveries_acked']}"],
        ["push notifications (answers)", f"{activity['push_notifications']} {activity['push_answers']}"],
        ["API calls (answers)", f"{activity['api_calls']} {activity['api_answers']}"],
        ["converged", report["converged"]],
        ["settle seconds (deadline)", f"{report['settle_seconds']} ({report['settle_deadline_seconds']:.0f})"],
        ["final state", report["final_state"]],
        ["lock waiters (max, p95 of 1 s samples)", activity["lock_waiters_sampled"]],
        ["lock waits > 0.5 s (PostgreSQL log)", (report.get("postgres_lock_waits") or {}).get("over_0_5_s", "-")],
    ]
    print_table("activity", ["what", "value"], facts)
    for name, examples in report["violations"].items():
        if isinstance(examples, list) and examples:
            print(f"\n{name} ({counts[name]}), first {min(len(examples), SHOW)}:")
            for example in examples[:SHOW]:
                print(f"  {json.dumps(example, default=str)[:400]}")
    if report["log_error_groups"]:
        print("\nlog errors by process and event:")
        for key, count in report["log_error_groups"].items():
            print(f"  {count:5d}  {key}")
    verdict = "PASS" if report["violation_count"] == 0 else f"FAIL ({report['violation_count']} violations)"
    print(f"\n{verdict}; logs in {report['run_dir']}")


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    report = asyncio.run(run(options))
    report["machine"] = machine()
    text = json.dumps(report, indent=2, default=str)
    (options.run_dir / "report.json").write_text(text + "\n")
    if options.json_path == "-":
        print(text)
    elif options.json_path:
        Path(options.json_path).write_text(text + "\n")
    print_report(report)
    return 0 if report["violation_count"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
