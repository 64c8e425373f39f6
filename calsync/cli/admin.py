"""Operating commands: migrations, encryption keys, the local platform emulator."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import Progress

from calsync.cli.common import app, console, load_settings, migrate_database, run
from calsync.context import AppContext
from calsync.logs import configure_logging
from calsync.security.secret_box import generate_key
from calsync.settings import Settings
from calsync.store.rotate_keys import rotate_secrets


@app.command()
def migrate() -> None:
    """Apply database migrations."""
    settings = load_settings()
    migrate_database(settings)
    console.print("Database is up to date.")


@app.command("generate-key")
def generate_key_command() -> None:
    """Print a new encryption key for CALSYNC_ENCRYPTION_KEYS."""
    console.print(generate_key())


@app.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt every stored secret with the first key of CALSYNC_ENCRYPTION_KEYS."""
    settings = load_settings()
    migrate_database(settings)

    async def rotate(context: AppContext) -> int:
        with Progress(console=console, transient=False) as progress:
            task = progress.add_task("Re-encrypting calendars", total=None)
            return await rotate_secrets(
                context.db, context.secrets, lambda done, total: progress.update(task, completed=done, total=total)
            )

    count = run(rotate, settings)
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
