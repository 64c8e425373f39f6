"""`calsync calendars …`: operators inspect, sync and delete calendars of every project."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from calsync import json_codec
from calsync.api.serializers import calendar_json
from calsync.calendars.removal import delete_calendar
from calsync.cli.common import calendars_app, console, exit_unless_found, run, when
from calsync.context import AppContext
from calsync.store.models import Project
from calsync.store.queries import calendars as calendar_queries
from calsync.store.queries import projects as project_queries
from calsync.store.work_signal import notify_work_in_transaction

CalendarArgument = Annotated[str, typer.Argument(metavar="CALENDAR_ID", help="cal_… id")]


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

    async def listed(context: AppContext) -> list[tuple[str, ...]] | None:
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
                when(c.last_successful_sync_at),
                when(c.sync_due_at),
                str((c.last_sync_error or c.connection_failure_data or {}).get("code") or "-"),
            )
            for c in rows
        ]

    rows = run(listed)
    if project_id is not None:
        exit_unless_found(rows, f"project {project_id}")
    table = Table("id", "project", "platform", "state", "push", "last sync", "next sync", "error")
    for row in rows or []:
        table.add_row(*row)
    console.print(table)


@calendars_app.command("show")
def calendars_show(calendar_id: CalendarArgument) -> None:
    """A calendar as the API shows it (JSON; no secrets), with its project."""

    async def shown_calendar(context: AppContext) -> dict[str, object] | None:
        async with context.db.read() as session:
            calendar = await calendar_queries.find_calendar(session, calendar_id)
            if calendar is None:
                return None
            project = await session.get(Project, calendar.project_id)
            return {**calendar_json(calendar), "project_id": project.object_id if project else None}

    shown = run(shown_calendar)
    exit_unless_found(shown, f"calendar {calendar_id}")
    console.print_json(json_codec.dumps_text(shown))


@calendars_app.command("sync")
def calendars_sync(calendar_id: CalendarArgument) -> None:
    """Sync a calendar now (a worker picks it up within moments)."""

    async def mark(context: AppContext) -> bool:
        async with context.db.write() as session:
            calendar = await calendar_queries.find_calendar(session, calendar_id, for_update=True)
            if calendar is None:
                return False
            calendar_queries.mark_due(calendar, "requested", context.clock())
            await notify_work_in_transaction(session)
            return True

    exit_unless_found(run(mark) or None, f"calendar {calendar_id}")
    console.print(f"{calendar_id} is due now.")


@calendars_app.command("delete")
def calendars_delete(
    calendar_id: CalendarArgument,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Delete a calendar and its events (its push channels are stopped on the platform by a worker)."""
    if not yes:
        typer.confirm(f"Delete {calendar_id} and all its events?", abort=True)

    async def delete(context: AppContext) -> bool:
        async with context.db.write() as session:
            calendar = await calendar_queries.find_calendar(session, calendar_id, for_update=True)
            if calendar is None:
                return False
            await delete_calendar(session, context.hooks, calendar, context.clock())
            return True

    exit_unless_found(run(delete) or None, f"calendar {calendar_id}")
    console.print(f"Deleted {calendar_id}.")
