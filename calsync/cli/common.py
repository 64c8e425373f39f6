"""What every `calsync` command shares: the Typer apps, the consoles, settings, the context and migrations."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, TypeVar

import structlog
import typer
from rich.console import Console
from sqlalchemy.engine import make_url

from calsync import __version__
from calsync.context import AppContext
from calsync.logs import configure_logging, log_background_database_faults
from calsync.runtime import build_context
from calsync.security.secret_box import SecretsConfigError
from calsync.settings import Settings
from calsync.store import migrate as migrations
from calsync.store.transient import sqlstate, transient_kind

app = typer.Typer(
    help="calsync: calendar sync service.", no_args_is_help=True, add_completion=False, rich_markup_mode=None
)
projects_app = typer.Typer(help="Manage projects.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(projects_app, name="projects")
app.add_typer(keys_app, name="api-keys")
webhooks_app = typer.Typer(help="Manage customer webhooks.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")
calendars_app = typer.Typer(help="Inspect, sync and delete calendars (operators: every project).", no_args_is_help=True)
app.add_typer(calendars_app, name="calendars")


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


log = structlog.get_logger("calsync.cli")
console = _console()
err = _console(stderr=True)
T = TypeVar("T")


def load_settings() -> Settings:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return settings


def _context(settings: Settings) -> AppContext:
    try:
        return build_context(settings)
    except SecretsConfigError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def run(
    make: Callable[[AppContext], Awaitable[T]],
    settings: Settings | None = None,
    *,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> T:
    """`make(context)` in a new event loop (`loop_factory`'s, or the standard library's), with the process's context
    (closed after)."""
    settings = settings or load_settings()
    context = _context(settings)

    async def main() -> T:
        log_background_database_faults(asyncio.get_running_loop())
        try:
            return await make(context)
        finally:
            await context.aclose()

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main())


def migrate_database(settings: Settings, *, wait: bool = False) -> None:
    """Apply migrations. With `wait` (the long-running processes), a database that is unreachable for now is
    waited for, up to `CALSYNC_STARTUP_DATABASE_WAIT_SECONDS`, as a supervisor would restart us anyway; what an
    operator must fix (no such database, wrong credentials) fails at once with one line."""
    deadline = time.monotonic() + settings.startup_database_wait_seconds
    delay = 0.5
    # One line, so a first start that takes a while says what it is doing (the install before it does the same).
    console.print(f"calsync: migrating the database {_safe_url(settings)}", highlight=False)
    while True:
        try:
            migrations.upgrade(settings.direct_database_url)
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


def exit_unless_found(found: object, what: str) -> None:
    """Exit 1 with "no <what>" when `found` is None (`what` is e.g. "project proj_…")."""
    if found is None:
        err.print(f"[red]error:[/red] no {what}")
        raise typer.Exit(1)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value is not None else "-"
