"""`calsync webhooks …`: customer webhooks and their signing secrets."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Column, Table

from calsync.cli.common import console, err, load_settings, migrate_database, run, webhooks_app
from calsync.webhooks import admin as webhook_admin
from calsync.webhooks.payloads import TRIGGERS as WEBHOOK_TRIGGERS


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
    settings = load_settings()
    migrate_database(settings)
    try:
        created = run(
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
    for row in run(lambda ctx: webhook_admin.list_webhooks(ctx, project_id)):
        table.add_row(*row)
    console.print(table)


@webhooks_app.command("delete")
def webhooks_delete(webhook_id: Annotated[str, typer.Argument(metavar="WEBHOOK_ID", help="whk_… id")]) -> None:
    """Delete a webhook with its queued deliveries and its delivery log."""
    if not run(lambda ctx: webhook_admin.delete_webhook(ctx, webhook_id)):
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
        secret = run(lambda ctx: webhook_admin.rotate_secret(ctx, project_id, timedelta(hours=overlap_hours)))
    except webhook_admin.AdminError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    _print_secret(secret)
