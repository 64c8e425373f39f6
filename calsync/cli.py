"""The `calsync` command."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from typing import Annotated, TypeVar

import structlog
import typer
import uvicorn
from prometheus_client import start_http_server
from rich.console import Console
from rich.progress import Progress
from rich.table import Column, Table
from sqlalchemy.engine import make_url

from calsync import __version__, json_codec
from calsync.api.app import create_app
from calsync.api.serializers import calendar_json
from calsync.bootstrap import ensure_default_project
from calsync.connect import cli as connect_cli
from calsync.context import AppContext
from calsync.logs import configure_logging, log_background_database_faults
from calsync.meetings.internal_domains import internal_domains, set_internal_domains
from calsync.meetings.removal import delete_calendar as delete_calendar_with_its_bots
from calsync.process_tuning import skip_failed_imports, tune_garbage_collector
from calsync.push.upkeep import PushUpkeep
from calsync.security.secret_box import SecretsConfigError, generate_key
from calsync.settings import Settings
from calsync.store import migrate as migrations
from calsync.store.models import Project
from calsync.store.queries import calendars as calendar_queries
from calsync.store.queries import projects as project_queries
from calsync.store.rotate_keys import rotate_secrets
from calsync.store.transient import DatabaseUnavailable, run_with_retries, sqlstate, transient_kind
from calsync.store.work_signal import notify_work_in_transaction
from calsync.webhooks import admin as webhook_admin
from calsync.webhooks.payloads import TRIGGERS as WEBHOOK_TRIGGERS
from calsync.worker.loops import build_loops
from calsync.worker.runner import WorkerRunner, run_until

app = typer.Typer(
    help="calsync: calendar sync service.", no_args_is_help=True, add_completion=False, rich_markup_mode=None
)
projects_app = typer.Typer(help="Manage projects.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(projects_app, name="projects")
app.add_typer(keys_app, name="api-keys")
webhooks_app = typer.Typer(help="Manage customer webhooks.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(connect_cli.app, name="connect")


def _print_version(value: bool) -> None:
    if value:
        print(f"calsync {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """calsync: calendar sync service."""


def _console(*, stderr: bool = False) -> Console:
    # Output read by scripts and CI logs is never wrapped: Rich would otherwise break lines (and table cells such
    # as URLs) at 80 columns when stdout is not a terminal.
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, soft_wrap=True, width=None if stream.isatty() else 10_000)


log = structlog.get_logger(__name__)
console = _console()
err = _console(stderr=True)
T = TypeVar("T")

HostOption = Annotated[str | None, typer.Option(metavar="HOST", help="Bind address (default CALSYNC_HOST)")]
PortOption = Annotated[int | None, typer.Option(metavar="PORT", help="Port (default CALSYNC_PORT)")]


def _settings() -> Settings:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return settings


def _context(settings: Settings) -> AppContext:
    try:
        return AppContext.from_settings(settings)
    except SecretsConfigError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def _run(make: Callable[[AppContext], Awaitable[T]], settings: Settings | None = None) -> T:
    settings = settings or _settings()
    context = _context(settings)

    async def main() -> T:
        log_background_database_faults(asyncio.get_running_loop())
        try:
            return await make(context)
        finally:
            await context.aclose()

    return asyncio.run(main())


def _migrate(settings: Settings, *, wait: bool = False) -> None:
    """Apply migrations. With `wait` (the long-running processes), a database that is unreachable for now is
    waited for, up to `CALSYNC_STARTUP_DATABASE_WAIT_SECONDS`, as a supervisor would restart us anyway; what an
    operator must fix (no such database, wrong credentials) fails at once with one line."""
    deadline = time.monotonic() + settings.startup_database_wait_seconds
    delay = 0.5
    while True:
        try:
            migrations.upgrade(settings.resolved_database_url)
            return
        except Exception as exc:
            problem = _database_problem(exc)
            if problem is None:
                raise
            if wait and transient_kind(exc) is not None and time.monotonic() + delay < deadline:
                log.warning("database_unavailable_at_start", retry_in=delay, error=type(exc).__name__)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            err.print(f"[red]error:[/red] cannot open the database {_safe_url(settings)}: {problem}")
            raise typer.Exit(2) from None


def _safe_url(settings: Settings) -> str:
    return make_url(settings.resolved_database_url).render_as_string(hide_password=True)


def _database_problem(exc: BaseException) -> str | None:
    """One line for the faults an operator fixes outside calsync (no database, no role, no server), else None."""
    code = sqlstate(exc)
    if code == "3D000":
        return "it does not exist (create it: createdb -O <role> <name>, see docs/deployment.md)"
    if code is not None and code.startswith("28"):
        return "the server refused these credentials (check the role and password in CALSYNC_DATABASE_URL)"
    if transient_kind(exc) is not None:
        return f"the server is unreachable or refused the connection ({type(exc).__name__})"
    if "unable to open database file" in str(exc):
        return "the SQLite file cannot be created there (check CALSYNC_DATA_DIR and its permissions)"
    return None


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


def _bind(host: str, port: int) -> socket.socket:
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
    application = create_app(context)
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


@app.command()
def serve(host: HostOption = None, port: PortOption = None) -> None:
    """API and background workers in one process (embedded SQLite by default)."""
    settings = _settings()
    sock = _bind(host or settings.host, port or settings.port)
    _migrate(settings, wait=True)
    _run(lambda ctx: _serve(ctx, sock, worker=True), settings)


@app.command()
def api(host: HostOption = None, port: PortOption = None) -> None:
    """The HTTP API only (run `calsync worker` processes beside it)."""
    settings = _settings()
    sock = _bind(host or settings.host, port or settings.port)
    _migrate(settings, wait=True)
    _run(lambda ctx: _serve(ctx, sock, worker=False), settings)


@app.command()
def worker() -> None:
    """Background workers only; stops cleanly on SIGTERM or SIGINT."""
    settings = _settings()
    _migrate(settings, wait=True)
    if settings.worker_metrics_port:
        # Workers serve no API; their counters (syncs, webhook attempts, database faults) are scraped here.
        start_http_server(settings.worker_metrics_port, addr=settings.host)
    _run(lambda ctx: _serve(ctx, None, worker=True), settings)


@app.command()
def migrate() -> None:
    """Apply database migrations."""
    settings = _settings()
    _migrate(settings)
    console.print("Database is up to date.")


@app.command("generate-key")
def generate_key_command() -> None:
    """Print a new encryption key for CALSYNC_ENCRYPTION_KEYS."""
    console.print(generate_key())


@app.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt every stored secret with the first key of CALSYNC_ENCRYPTION_KEYS."""
    settings = _settings()
    _migrate(settings)

    async def run(context: AppContext) -> int:
        with Progress(console=console, transient=False) as progress:
            task = progress.add_task("Re-encrypting calendars", total=None)
            return await rotate_secrets(
                context.db, context.secrets, lambda done, total: progress.update(task, completed=done, total=total)
            )

    count = _run(run, settings)
    console.print(f"Re-encrypted the secrets of {count} calendar(s) with the primary key.")


@app.command()
def emulator(
    host: Annotated[str, typer.Option(metavar="HOST", help="Bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port")] = 8800,
    tls: Annotated[
        bool, typer.Option("--tls", help="Serve https with a self-signed certificate made at start (its CA is printed)")
    ] = False,
    tls_dir: Annotated[
        str | None,
        typer.Option(metavar="DIR", help="With --tls: where to write ca.pem (default: a temporary directory)"),
    ] = None,
) -> None:
    """Run the local Google Calendar + Microsoft Graph emulator."""
    from calsync_emulator.server import base_url, tls_directory
    from calsync_emulator.server import run as run_emulator
    from calsync_emulator.tls import make_certificates

    configure_logging(Settings().log_level, Settings().log_format)
    certificates = make_certificates(tls_directory(tls_dir), [host]) if tls else None
    url = base_url(host, port, tls)
    console.print(f"calsync emulator on {url}  — point calsync at it with:")
    from calsync_emulator.urls import calsync_settings_env

    for name, value in calsync_settings_env(url).items():
        console.print(f"  export {name}={value}")
    if certificates is not None:
        console.print(f"CA certificate (trust it to reach the emulator over https): {certificates.ca_path}")
    run_emulator(host, port, certificates)


@projects_app.command("create")
def projects_create(name: Annotated[str, typer.Argument(metavar="NAME", help="Project name")]) -> None:
    """Create a project and its first API key."""
    settings = _settings()
    _migrate(settings)

    async def run(context: AppContext) -> tuple[str, str]:
        async with context.db.write() as session:
            now = context.clock()
            project = await project_queries.create_project(session, name, now)
            issued = await project_queries.create_api_key(session, project, "default", now)
            return project.object_id, issued.key

    project_id, key = _run(run, settings)
    console.print(f"Project {project_id} created. API key (shown once): [bold]{key}[/bold]")


@projects_app.command("list")
def projects_list() -> None:
    """List projects."""

    async def run(context: AppContext) -> list[tuple[str, str, str]]:
        async with context.db.read() as session:
            return [
                (p.object_id, p.name, p.created_at.isoformat()) for p in await project_queries.list_projects(session)
            ]

    table = Table("id", "name", "created")
    for row in _run(run):
        table.add_row(*row)
    console.print(table)


@projects_app.command("internal-domains")
def projects_internal_domains(
    project_id: Annotated[str, typer.Argument(metavar="PROJECT_ID", help="proj_… id")],
    domains: Annotated[
        list[str] | None, typer.Argument(metavar="DOMAIN...", help="Domains; none clears the list")
    ] = None,
) -> None:
    """Set the email domains bot rules count as internal besides each calendar owner's own (docs/bots.md); the
    meetings of the window are re-evaluated. As `PATCH /api/v1/bot_rule_settings`."""

    async def run(context: AppContext) -> list[str] | None:
        async with context.db.write() as session:
            project = await project_queries.get_project(session, project_id)
            if project is None:
                return None
            await set_internal_domains(session, project, domains or (), context.clock())
            return internal_domains(project)

    cleaned = _run(run)
    _project_or_exit(cleaned, project_id)
    console.print(f"Internal domains of {project_id}: {', '.join(cleaned or ()) or '(none)'}")


def _project_or_exit(found: object, project_id: str) -> None:
    if found is None:
        err.print(f"[red]error:[/red] no project {project_id}")
        raise typer.Exit(1)


@keys_app.command("create")
def keys_create(
    project_id: Annotated[str, typer.Argument(metavar="PROJECT_ID", help="proj_… id")],
    name: Annotated[str, typer.Option(metavar="LABEL", help="A label for the key")] = "cli",
) -> None:
    """Create an API key for a project (printed once)."""

    async def run(context: AppContext) -> str | None:
        async with context.db.write() as session:
            project = await project_queries.get_project(session, project_id)
            if project is None:
                return None
            return (await project_queries.create_api_key(session, project, name, context.clock())).key

    key = _run(run)
    _project_or_exit(key, project_id)
    console.print(f"API key (shown once): [bold]{key}[/bold]")


@keys_app.command("list")
def keys_list(
    project_id: Annotated[
        str | None, typer.Argument(metavar="[PROJECT_ID]", help="proj_… id (all when omitted)")
    ] = None,
) -> None:
    """List API keys (never the keys themselves)."""

    async def run(context: AppContext) -> list[tuple[str, str, str, str, str]] | None:
        async with context.db.read() as session:
            project = None
            if project_id is not None:
                project = await project_queries.get_project(session, project_id)
                if project is None:
                    return None
            keys = await project_queries.list_api_keys(session, project)
            return [
                (
                    k.object_id,
                    k.name,
                    k.key_prefix + "…",
                    k.created_at.isoformat(),
                    "revoked" if k.revoked_at else "active",
                )
                for k in keys
            ]

    rows = _run(run)
    if project_id is not None:
        _project_or_exit(rows, project_id)
    table = Table("id", "name", "prefix", "created", "status")
    for row in rows or []:
        table.add_row(*row)
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(metavar="KEY_ID", help="key_… id")]) -> None:
    """Revoke an API key; requests with it are rejected from now on."""

    async def run(context: AppContext) -> bool:
        async with context.db.write() as session:
            return await project_queries.revoke_api_key(session, key_id, context.clock()) is not None

    if not _run(run):
        err.print(f"[red]error:[/red] no API key {key_id}")
        raise typer.Exit(1)
    console.print(f"Revoked {key_id}.")


def _print_secret(secret: dict[str, object]) -> None:
    console.print("Signing secret (shown once; base64 for Attendee-style receivers, whsec_ for Standard Webhooks):")
    console.print(f"\n    [bold]{secret['secret']}[/bold]\n    [bold]{secret['secret_whsec']}[/bold]\n")


@webhooks_app.command("create")
def webhooks_create(
    project_id: Annotated[str, typer.Argument(metavar="PROJECT_ID", help="proj_… id")],
    url: Annotated[str, typer.Argument(metavar="URL", help="https URL that receives the webhooks")],
    trigger: Annotated[
        list[str] | None,
        typer.Option(metavar="TRIGGER", help=f"Repeatable; default all: {', '.join(WEBHOOK_TRIGGERS)}"),
    ] = None,
    inactive: Annotated[bool, typer.Option(help="Create it disabled")] = False,
) -> None:
    """Create a webhook; the project's first one also prints its signing secret (once)."""
    settings = _settings()
    _migrate(settings)
    try:
        created = _run(
            lambda ctx: webhook_admin.create_webhook(
                ctx, project_id, url, trigger or list(WEBHOOK_TRIGGERS), active=not inactive
            ),
            settings,
        )
    except webhook_admin.AdminError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(f"Webhook {created.webhook_id} created.")
    if created.secret is not None:
        _print_secret(created.secret)


@webhooks_app.command("list")
def webhooks_list(
    project_id: Annotated[
        str | None, typer.Argument(metavar="[PROJECT_ID]", help="proj_… id (all when omitted)")
    ] = None,
) -> None:
    """List webhooks with their health."""
    # Ids never truncated (they are what `delete` takes); the URL folds instead.
    table = Table(
        Column("id", no_wrap=True), Column("project", no_wrap=True), Column("url", overflow="fold"), "triggers", "state"
    )
    for row in _run(lambda ctx: webhook_admin.list_webhooks(ctx, project_id)):
        table.add_row(*row)
    console.print(table)


@webhooks_app.command("delete")
def webhooks_delete(webhook_id: Annotated[str, typer.Argument(metavar="WEBHOOK_ID", help="whk_… id")]) -> None:
    """Delete a webhook with its queued deliveries and its delivery log."""
    if not _run(lambda ctx: webhook_admin.delete_webhook(ctx, webhook_id)):
        err.print(f"[red]error:[/red] no webhook {webhook_id}")
        raise typer.Exit(1)
    console.print(f"Deleted {webhook_id}.")


@webhooks_app.command("rotate-secret")
def webhooks_rotate_secret(
    project_id: Annotated[str, typer.Argument(metavar="PROJECT_ID", help="proj_… id")],
    overlap_hours: Annotated[
        float, typer.Option(metavar="HOURS", help="How long the previous secret keeps signing too")
    ] = 72.0,
) -> None:
    """Create a new signing secret (printed once); the previous one signs beside it for --overlap-hours."""
    try:
        secret = _run(lambda ctx: webhook_admin.rotate_secret(ctx, project_id, timedelta(hours=overlap_hours)))
    except webhook_admin.AdminError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    _print_secret(secret)


if __name__ == "__main__":
    app()


calendars_app = typer.Typer(help="Inspect, sync and delete calendars (operators: every project).", no_args_is_help=True)
app.add_typer(calendars_app, name="calendars")
CalendarArgument = Annotated[str, typer.Argument(metavar="CALENDAR_ID", help="cal_… id")]


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value is not None else "-"


def _calendar_or_exit(found: object, calendar_id: str) -> None:
    if found is None:
        err.print(f"[red]error:[/red] no calendar {calendar_id}")
        raise typer.Exit(1)


@calendars_app.command("list")
def calendars_list(
    project_id: Annotated[
        str | None, typer.Argument(metavar="[PROJECT_ID]", help="proj_… id (all when omitted)")
    ] = None,
    state: Annotated[str | None, typer.Option(metavar="STATE", help="connected or disconnected")] = None,
    platform: Annotated[str | None, typer.Option(metavar="PLATFORM", help="google or microsoft")] = None,
    limit: Annotated[int, typer.Option(metavar="N", help="Newest first, at most this many")] = 50,
) -> None:
    """List calendars with their sync and push state (never their credentials)."""

    async def run(context: AppContext) -> list[tuple[str, ...]] | None:
        async with context.db.read() as session:
            project = None
            if project_id is not None:
                project = await project_queries.get_project(session, project_id)
                if project is None:
                    return None
            rows = await calendar_queries.list_all_calendars(
                session,
                project.id if project is not None else None,
                calendar_queries.CalendarFilters(state=state, platform=platform),
                limit=limit,
            )
            projects = {p.id: p.object_id for p in await project_queries.list_projects(session)}
        return [
            (
                c.object_id,
                projects.get(c.project_id, "?"),
                c.platform,
                c.state,
                c.push_state,
                _when(c.last_successful_sync_at),
                _when(c.sync_due_at),
                str((c.last_sync_error or c.connection_failure_data or {}).get("code") or "-"),
            )
            for c in rows
        ]

    rows = _run(run)
    if project_id is not None:
        _project_or_exit(rows, project_id)
    table = Table("id", "project", "platform", "state", "push", "last sync", "next sync", "error")
    for row in rows or []:
        table.add_row(*row)
    console.print(table)


@calendars_app.command("show")
def calendars_show(calendar_id: CalendarArgument) -> None:
    """A calendar as the API shows it (JSON; no secrets), with its project."""

    async def run(context: AppContext) -> dict[str, object] | None:
        async with context.db.read() as session:
            calendar = await calendar_queries.find_calendar(session, calendar_id)
            if calendar is None:
                return None
            project = await session.get(Project, calendar.project_id)
            return {**calendar_json(calendar), "project_id": project.object_id if project else None}

    shown = _run(run)
    _calendar_or_exit(shown, calendar_id)
    console.print_json(json_codec.dumps_text(shown))


@calendars_app.command("sync")
def calendars_sync(calendar_id: CalendarArgument) -> None:
    """Sync a calendar now (a worker picks it up within moments)."""

    async def run(context: AppContext) -> bool:
        async with context.db.write() as session:
            calendar = await calendar_queries.find_calendar(session, calendar_id, for_update=True)
            if calendar is None:
                return False
            calendar_queries.mark_due(calendar, "requested", context.clock())
            await notify_work_in_transaction(session)
            return True

    _calendar_or_exit(_run(run) or None, calendar_id)
    console.print(f"{calendar_id} is due now.")


@calendars_app.command("delete")
def calendars_delete(
    calendar_id: CalendarArgument,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Delete a calendar and its events (its push channels are stopped on the platform by a worker)."""
    if not yes:
        typer.confirm(f"Delete {calendar_id} and all its events?", abort=True)

    async def run(context: AppContext) -> bool:
        async with context.db.write() as session:
            calendar = await calendar_queries.find_calendar(session, calendar_id, for_update=True)
            if calendar is None:
                return False
            await delete_calendar_with_its_bots(session, calendar, context.clock())
            return True

    _calendar_or_exit(_run(run) or None, calendar_id)
    console.print(f"Deleted {calendar_id}.")
