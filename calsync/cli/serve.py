"""The long-running commands: `serve` (API and workers), `api` and `worker`, one start-up path for the three."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import enum
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, NoReturn

import typer
import uvicorn
from prometheus_client import start_http_server

from calsync.bootstrap import ensure_default_project
from calsync.cli.common import app, console, err, load_settings, log, migrate_database, run
from calsync.context import AppContext
from calsync.process_tuning import skip_failed_imports, tune_garbage_collector
from calsync.push.upkeep import PushUpkeep
from calsync.runtime import build_app, build_loops
from calsync.settings import Settings
from calsync.store.transient import DatabaseUnavailable, run_with_retries
from calsync.worker.runner import WorkerRunner, run_until

HostOption = Annotated[str | None, typer.Option(metavar="HOST", help="Bind address (default CALSYNC_HOST)")]
_PR_SET_PDEATHSIG = 1  # prctl(2)
PortOption = Annotated[int | None, typer.Option(metavar="PORT", help="Port (default CALSYNC_PORT)")]
ProcessesOption = Annotated[
    int | None,
    typer.Option(
        min=1,
        max=16,
        show_default=False,
        help="Server processes sharing the port, each with its own event loop and connection pool "
        "(rate limits and /metrics are then per process; docs/deployment.md). Default: 2 on PostgreSQL with two "
        "or more CPUs, else 1",
    ),
]


class EventLoop(enum.StrEnum):
    uvloop = "uvloop"
    asyncio = "asyncio"


LoopOption = Annotated[EventLoop, typer.Option(help="The event loop: uvloop, or the standard library's asyncio")]
# Server processes of `calsync api` on PostgreSQL when not told: one event loop queues 50 busy clients behind each
# other, a second one halves that queue (docs/benchmarks.md §15); more would only compete for a 2-core machine.
DEFAULT_API_PROCESSES = 2


def api_process_settings(settings: Settings, processes: int, index: int) -> Settings:
    """The settings of `calsync api`'s server process `index` of `processes`: the api's connection budget
    (`db_pool_size + db_max_overflow`) split between its processes, and every connection kept once opened. A pool
    that closes its overflow connections as they come back reopens them moments later under steady load (13 to 37 new
    backends per 10 s at 50 clients, docs/benchmarks.md §15), each a request that waits for a connection and
    prepares its statements again."""
    budget = settings.db_pool_size + settings.db_max_overflow
    share = max(1, budget // processes + (1 if index < budget % processes else 0))
    return settings.model_copy(update={"db_pool_size": share, "db_max_overflow": 0})


def default_api_processes(settings: Settings) -> int:
    """Embedded SQLite keeps one process (its writers queue in-process); PostgreSQL gets a second loop when there
    is a second CPU for it."""
    if settings.is_sqlite:
        return 1
    return max(1, min(DEFAULT_API_PROCESSES, len(os.sched_getaffinity(0))))


async def _announce_first_run(context: AppContext) -> None:
    first = await ensure_default_project(context)
    if first is None:
        return
    console.print(f"[bold green]Created project {first.project_id} and its first API key:[/bold green]")
    console.print(f"\n    [bold]{first.api_key}[/bold]\n")
    console.print(f"It is shown only now; a copy is saved (mode 0600) at {first.saved_to}")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: recent uvicorn re-raises the signal after shutting down, which
    would kill the process before the workers beside it have drained. We handle SIGTERM/SIGINT ourselves."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _on_stop_signals(callback: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, callback)


async def _when_database_answers(context: AppContext, step: Callable[[], Awaitable[None]]) -> None:
    """A start-up step run again while the database is unreachable, like the migrations before it (it can go away
    again between the two), up to `CALSYNC_STARTUP_DATABASE_WAIT_SECONDS`."""
    deadline = time.monotonic() + context.settings.startup_database_wait_seconds
    while True:
        try:
            await run_with_retries(step, what="start")
            return
        except DatabaseUnavailable as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("database_unavailable_at_start", retry_in=2.0, error=exc.kind)
            await asyncio.sleep(2.0)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything else starts: a busy port is one clear error, not a worker
    that starts and a server that fails after saying it listens."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and without it a response
    # written in two parts (headers, then body) waits ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        err.print(f"[red]error:[/red] cannot listen on {host}:{port}: {exc.strerror or exc}")
        raise typer.Exit(2) from None
    return sock


async def _serve(context: AppContext, sock: socket.socket | None, *, worker: bool) -> None:
    await _when_database_answers(context, lambda: _announce_first_run(context))
    tune_garbage_collector(runs_worker=worker)
    skip_failed_imports()
    runner = WorkerRunner(context, build_loops(context)) if worker else None
    if sock is None:
        assert runner is not None
        stop = asyncio.Event()
        _on_stop_signals(stop.set)
        await run_until(stop.wait(), runner)
        return
    application = build_app(context)
    config = uvicorn.Config(application, log_config=None, access_log=context.settings.access_log)
    server = _Server(config)
    upkeep_stop = asyncio.Event()
    upkeep = asyncio.create_task(PushUpkeep(context, application.state.missed_pushes).run(upkeep_stop))

    def stop_server() -> None:
        server.should_exit = True

    _on_stop_signals(stop_server)
    host, port = sock.getsockname()[:2]
    console.print(f"calsync listening on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    try:
        if runner is None:
            await server.serve(sockets=[sock])
        else:
            # When the server has shut down, the worker stops and finishes (or hands back) what it holds.
            await run_until(server.serve(sockets=[sock]), runner)
    finally:
        upkeep_stop.set()
        await upkeep


def _start(
    *,
    listen: tuple[str | None, int | None] | None,
    worker: bool,
    processes: int | None = 1,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> None:
    """Bind (when it serves HTTP), migrate (waiting for the database), then run until SIGTERM or SIGINT; with
    `processes` > 1, as many processes serve the bound socket (forked after the migrations, before any loop);
    None: `default_api_processes`."""
    settings = load_settings()
    if processes is None:
        processes = default_api_processes(settings)
    # `calsync api` (no worker beside it in the process) serves from pools that keep their connections.
    per_process = [settings if worker else api_process_settings(settings, processes, i) for i in range(processes)]
    sock = None if listen is None else bind(listen[0] or settings.host, listen[1] or settings.port)
    migrate_database(settings, wait=True)
    if sock is None and settings.worker_metrics_port:
        # Workers serve no API; their counters (syncs, webhook attempts, database faults) are scraped here.
        start_http_server(settings.worker_metrics_port, addr=settings.host)
    children: list[int] = []
    if processes > 1:
        # The first run's project and key made once, before the processes that would each race to make them.
        run(lambda ctx: _when_database_answers(ctx, lambda: _announce_first_run(ctx)), settings)

    def serving(own: Settings) -> Callable[[], None]:
        return lambda: run(lambda ctx: _serve(ctx, sock, worker=worker), own, loop_factory=loop_factory)

    for own in per_process[1:]:
        pid = os.fork()
        if pid == 0:
            _run_child(serving(own))
        children.append(pid)
    try:
        serving(per_process[0])()
    finally:
        _stop_children(children)


def _run_child(serve: Callable[[], None]) -> NoReturn:
    """A forked server process: it serves until stopped and exits without running the parent's exit handlers."""
    if sys.platform == "linux":
        # Stopped with its parent even if the parent is killed outright, so no orphan keeps serving the port.
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    code = 0
    try:
        serve()
    except BaseException:
        log.exception("server_process_failed")
        code = 1
    finally:
        os._exit(code)


def _stop_children(children: list[int], timeout_seconds: float = 30.0) -> None:
    """SIGTERM to the forked server processes, then wait for them (bounded; SIGKILL after `timeout_seconds`)."""
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_seconds
    waiting = set(children)
    while waiting and time.monotonic() < deadline:
        for pid in list(waiting):
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == 0:
                    continue
            waiting.discard(pid)
        if waiting:
            time.sleep(0.05)
    for pid in waiting:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


@app.command()
def serve(host: HostOption = None, port: PortOption = None) -> None:
    """API and background workers in one process (embedded SQLite by default)."""
    _start(listen=(host, port), worker=True)


@app.command()
def api(
    host: HostOption = None,
    port: PortOption = None,
    processes: ProcessesOption = None,
    loop: LoopOption = EventLoop.uvloop,
) -> None:
    """The HTTP API only (run `calsync worker` processes beside it)."""
    _start(listen=(host, port), worker=False, processes=processes, loop_factory=event_loop_factory(loop))


def event_loop_factory(name: EventLoop) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop (libuv: fewer Python frames per socket event and per round trip to the database), or None for
    the standard library's."""
    if name is EventLoop.asyncio:
        return None
    import uvloop  # installed with uvicorn[standard] wherever uvicorn can use it

    return uvloop.new_event_loop


@app.command()
def worker(loop: LoopOption = EventLoop.uvloop) -> None:
    """Background workers only; stops cleanly on SIGTERM or SIGINT."""
    _start(listen=None, worker=True, loop_factory=event_loop_factory(loop))
