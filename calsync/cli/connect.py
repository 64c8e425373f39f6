"""`calsync connect …`: a project's hosted connect settings from the command line (docs/connect.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer
from rich.console import Console

from calsync.cli.common import app as main_app
from calsync.connect import admin
from calsync.context import AppContext
from calsync.settings import Settings

app = typer.Typer(help="Hosted connect: a project's OAuth apps and return URLs.", no_args_is_help=True)
main_app.add_typer(app, name="connect")
console = Console()
err = Console(stderr=True)

ProjectArgument = Annotated[str, typer.Argument(metavar="PROJECT_ID", help="proj_… id")]
PlatformArgument = Annotated[str, typer.Argument(metavar="PLATFORM", help="google or microsoft")]


def _run(action: Callable[[AppContext], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        context = AppContext.from_settings(Settings())
        try:
            return await action(context)
        finally:
            await context.aclose()

    try:
        return asyncio.run(main())
    except admin.AdminError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


def _print(settings: dict[str, Any]) -> None:
    for platform, redirect_uri in settings["redirect_uris"].items():
        configured = settings[platform]
        client = f"client id {configured['client_id']} (secret set)" if configured else "not configured"
        console.print(f"{platform}: {client}")
        console.print(f"    redirect URI to register: {redirect_uri}", soft_wrap=True)
    console.print("return URLs:" + ("" if settings["return_urls"] else " none"))
    for url in settings["return_urls"]:
        console.print(f"    {url}", soft_wrap=True)


@app.command("show")
def show(project_id: ProjectArgument) -> None:
    """The project's OAuth apps (never their secrets), the redirect URIs to register, and the return URLs."""
    _print(_run(lambda ctx: admin.show(ctx, project_id)))


@app.command("set-app")
def set_app(
    project_id: ProjectArgument,
    platform: PlatformArgument,
    client_id: Annotated[str, typer.Option(help="The OAuth client (application) id")],
    client_secret: Annotated[
        str, typer.Option(prompt=True, hide_input=True, help="Asked for when omitted (kept out of shell history)")
    ],
) -> None:
    """Set the project's OAuth app for a platform; the secret is stored encrypted."""
    _print(_run(lambda ctx: admin.change(ctx, project_id, apps={platform: (client_id, client_secret)})))


@app.command("remove-app")
def remove_app(project_id: ProjectArgument, platform: PlatformArgument) -> None:
    """Remove the project's OAuth app for a platform (new sessions can no longer use it)."""
    _print(_run(lambda ctx: admin.change(ctx, project_id, apps={platform: False})))


@app.command("return-urls")
def return_urls(
    project_id: ProjectArgument,
    url: Annotated[list[str] | None, typer.Argument(metavar="URL...", help="Replaces the list; none clears it")] = None,
) -> None:
    """Set the URLs a session may send the browser back to (matched exactly)."""
    _print(_run(lambda ctx: admin.change(ctx, project_id, return_urls=url or [])))
