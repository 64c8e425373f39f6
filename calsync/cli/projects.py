"""`calsync projects …` and `calsync api-keys …`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from calsync.cli.common import (
    console,
    err,
    exit_unless_found,
    keys_app,
    load_settings,
    migrate_database,
    projects_app,
    run,
)
from calsync.context import AppContext
from calsync.meetings.internal_domains import internal_domains, set_internal_domains
from calsync.store.queries import projects as project_queries

ProjectArgument = Annotated[str, typer.Argument(metavar="PROJECT_ID", help="proj_… id")]
OptionalProjectArgument = Annotated[
    str | None, typer.Argument(metavar="[PROJECT_ID]", help="proj_… id (all when omitted)")
]


@projects_app.command("create")
def projects_create(name: Annotated[str, typer.Argument(metavar="NAME", help="Project name")]) -> None:
    """Create a project and its first API key."""
    settings = load_settings()
    migrate_database(settings)

    async def create(context: AppContext) -> tuple[str, str]:
        async with context.db.write() as session:
            now = context.clock()
            project = await project_queries.create_project(session, name, now)
            issued = await project_queries.create_api_key(session, project, "default", now)
            return project.object_id, issued.key

    project_id, key = run(create, settings)
    console.print(f"Project {project_id} created. API key (shown once): [bold]{key}[/bold]")


@projects_app.command("list")
def projects_list() -> None:
    """List projects."""

    async def listed(context: AppContext) -> list[tuple[str, str, str]]:
        async with context.db.read() as session:
            return [
                (p.object_id, p.name, p.created_at.isoformat()) for p in await project_queries.list_projects(session)
            ]

    table = Table("id", "name", "created")
    for row in run(listed):
        table.add_row(*row)
    console.print(table)


@projects_app.command("internal-domains")
def projects_internal_domains(
    project_id: ProjectArgument,
    domains: Annotated[
        list[str] | None, typer.Argument(metavar="DOMAIN...", help="Domains; none clears the list")
    ] = None,
) -> None:
    """Set the email domains bot rules count as internal besides each calendar owner's own (docs/bots.md); the
    meetings of the window are re-evaluated. As `PATCH /api/v1/bot_rule_settings`."""

    async def store(context: AppContext) -> list[str] | None:
        async with context.db.write() as session:
            project = await project_queries.get_project(session, project_id)
            if project is None:
                return None
            await set_internal_domains(session, project, domains or (), context.clock())
            return internal_domains(project)

    cleaned = run(store)
    exit_unless_found(cleaned, f"project {project_id}")
    console.print(f"Internal domains of {project_id}: {', '.join(cleaned or ()) or '(none)'}")


@keys_app.command("create")
def keys_create(
    project_id: ProjectArgument,
    name: Annotated[str, typer.Option(metavar="LABEL", help="A label for the key")] = "cli",
) -> None:
    """Create an API key for a project (printed once)."""

    async def create(context: AppContext) -> str | None:
        async with context.db.write() as session:
            project = await project_queries.get_project(session, project_id)
            if project is None:
                return None
            return (await project_queries.create_api_key(session, project, name, context.clock())).key

    key = run(create)
    exit_unless_found(key, f"project {project_id}")
    console.print(f"API key (shown once): [bold]{key}[/bold]")


@keys_app.command("list")
def keys_list(project_id: OptionalProjectArgument = None) -> None:
    """List API keys (never the keys themselves)."""

    async def listed(context: AppContext) -> list[tuple[str, str, str, str, str]] | None:
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

    rows = run(listed)
    if project_id is not None:
        exit_unless_found(rows, f"project {project_id}")
    table = Table("id", "name", "prefix", "created", "status")
    for row in rows or []:
        table.add_row(*row)
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(metavar="KEY_ID", help="key_… id")]) -> None:
    """Revoke an API key; requests with it are rejected from now on."""

    async def revoke(context: AppContext) -> bool:
        async with context.db.write() as session:
            return await project_queries.revoke_api_key(session, key_id, context.clock()) is not None

    if not run(revoke):
        err.print(f"[red]error:[/red] no API key {key_id}")
        raise typer.Exit(1)
    console.print(f"Revoked {key_id}.")
