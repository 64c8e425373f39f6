"""Provider calls and response bytes for ONE changed event on a 500-event calendar (design.md §7, row 1).

calsync's path: the calendar was fully synced once (initial sync), then one event changes on the platform,
then calsync syncs it: `events.list?syncToken=` (Google) / the stored `@odata.deltaLink` (Graph), with the
access token cached from the previous sync. Also shown: the same sync when the cached token is due for its
hourly refresh, and calsync's own initial full list.

The anchor's strategy, run in the same benchmark against the same calendar (minimal re-implementation of
attendee-calendar-api.md §3.5/§3.6): a token refresh on every sync, then every page of the window —
Google `events.list?timeMin&timeMax&singleEvents=true&showDeleted=true&maxResults=2500`, Graph
`calendarView?startDateTime&endDateTime&$orderby=start/dateTime&$select=…` with no `$top` (Graph's default
page size, 10), following `@odata.nextLink` verbatim.

Counts and bytes come from the emulator's per-account counters (`/_emulator/counters?account_id=`), so
they are exactly what the platform served. The emulator runs in a thread here: only counts matter.

    .venv/bin/python bench/change_cost.py                      # 500 events, 3 repetitions, SQLite
    .venv/bin/python bench/change_cost.py --db postgres --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    bench_context,
    bench_database,
    emit_json,
    insert_calendars,
    machine,
    new_tenant,
    print_table,
    quiet_logs,
    seeded_accounts,
)

from calsync_emulator.client import EmulatorControl
from calsync_emulator.testing import running_emulator

GRAPH_SELECT = (
    "id,subject,start,end,attendees,organizer,iCalUId,seriesMasterId,isCancelled,isOnlineMeeting,"
    "onlineMeetingProvider,onlineMeeting,onlineMeetingUrl,location,body,webLink"
)


async def counted(control: EmulatorControl, account_id: str) -> tuple[int, int]:
    summary = await control.counters(account_id)
    return int(summary["requests"]), int(summary["response_bytes"])


async def calsync_sync(context: Any, calendar_id: int) -> Any:
    """Make the calendar due, claim it as a worker does, sync it once in this task."""
    from sqlalchemy import update

    from calsync.store.models import Calendar
    from calsync.worker.claims import claim_due_calendars
    from calsync.worker.sync_loop import SyncLoop

    async with context.db.write() as session:
        await session.execute(update(Calendar).where(Calendar.id == calendar_id).values(sync_due_at=context.clock()))
    loop = SyncLoop(context, "bench-worker")
    try:
        claims = await claim_due_calendars(context.db, loop.worker_id, context.clock(), limit=10, lease_seconds=60)
        assert [c.calendar_id for c in claims] == [calendar_id], claims
        result = await loop.syncer.sync(calendar_id, claims[0].due_at)
        if result.error is not None:
            raise RuntimeError(f"sync failed: {result.error!r}")
        return result
    finally:
        await loop.http.aclose()


async def stored_count(context: Any, calendar_id: int) -> int:
    from sqlalchemy import func, select

    from calsync.store.models import CalendarEvent

    async with context.db.read() as session:
        return int(
            (
                await session.execute(
                    select(func.count())
                    .select_from(CalendarEvent)
                    .where(CalendarEvent.calendar_id == calendar_id, CalendarEvent.is_deleted.is_(False))
                )
            ).scalar_one()
        )


async def stored_name(context: Any, calendar_id: int, platform_uuid: str) -> str | None:
    from sqlalchemy import select

    from calsync.store.models import CalendarEvent

    async with context.db.read() as session:
        return (
            await session.execute(
                select(CalendarEvent.name).where(
                    CalendarEvent.calendar_id == calendar_id, CalendarEvent.platform_uuid == platform_uuid
                )
            )
        ).scalar_one_or_none()


async def expire_cached_token(context: Any, calendar_id: int) -> None:
    """What an hour of wall time does to calsync's cached access token."""
    from sqlalchemy import update

    from calsync.store.models import Calendar

    async with context.db.write() as session:
        await session.execute(
            update(Calendar)
            .where(Calendar.id == calendar_id)
            .values(access_token_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )


async def stored_credentials(context: Any, calendar_id: int) -> Any:
    from calsync.providers.base import Credentials
    from calsync.store.models import Calendar

    async with context.db.read() as session:
        calendar = await session.get(Calendar, calendar_id)
    assert calendar is not None
    secrets = context.secrets.decrypt_json(calendar.encrypted_credentials)
    return Credentials(calendar.client_id, str(secrets["client_secret"]), str(secrets["refresh_token"]))


async def anchor_sync(context: Any, platform: str, credentials: Any, http: httpx.AsyncClient) -> tuple[Any, int]:
    """The anchor's sync: refresh the token, then list every page of the window. Returns the (possibly
    rotated) credentials and the number of events listed."""
    from calsync.providers.base import Credentials
    from calsync.providers.registry import make_provider
    from calsync.sync.window import sync_window

    provider = make_provider(platform, context.settings, http, clock=context.clock)
    grant = await provider.refresh_access_token(credentials)
    if grant.refresh_token:
        credentials = Credentials(credentials.client_id, credentials.client_secret, grant.refresh_token)
    start, end = sync_window(datetime.now(UTC), context.settings)
    listed = 0
    if platform == "google":
        url = f"{context.settings.google_api_url}/calendars/primary/events"
        params: dict[str, str] | None = {
            "timeMin": start.isoformat(),
            "timeMax": end.isoformat(),
            "singleEvents": "true",
            "showDeleted": "true",
            "maxResults": "2500",
        }
        headers = {"Authorization": f"Bearer {grant.access_token}"}
        while True:
            response = await http.get(url, params=params, headers=headers)
            response.raise_for_status()
            body = response.json()
            listed += len(body.get("items", []))
            token = body.get("nextPageToken")
            if not token:
                break
            params = {**(params or {}), "pageToken": token}
    else:
        next_url: str | None = f"{context.settings.microsoft_graph_url}/me/calendarView"
        params = {
            "startDateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "endDateTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "$orderby": "start/dateTime",
            "$select": GRAPH_SELECT,
        }
        headers = {"Authorization": f"Bearer {grant.access_token}", "Prefer": 'outlook.timezone="UTC"'}
        while next_url:
            response = await http.get(next_url, params=params, headers=headers)
            response.raise_for_status()
            body = response.json()
            listed += len(body.get("value", []))
            next_url, params = body.get("@odata.nextLink"), None
    return credentials, listed


async def run(args: argparse.Namespace, database_url: str, emulator_url: str) -> dict[str, Any]:
    async with (
        EmulatorControl(emulator_url) as control,
        bench_context(database_url, emulator_url) as context,
        httpx.AsyncClient(timeout=30, trust_env=False) as http,
    ):
        await control.reset()
        today = (await control.now()).date()
        # Every seeded event inside calsync's window (1 day back, 28 ahead): days today+1 .. today+26.
        await control.seed(
            seed=7,
            google_accounts=1,
            microsoft_accounts=1,
            events_per_calendar=args.events,
            recurring_per_calendar=args.recurring,
            start=today + timedelta(days=8),
            days=19,
            lazy=False,
        )
        tenant = await new_tenant(context)
        accounts = seeded_accounts(7, 1, 1)
        calendar_ids = await insert_calendars(context, tenant.project_id, accounts, due=None)
        results: dict[str, Any] = {}
        for (platform, cred), calendar_id in zip(accounts, calendar_ids, strict=True):
            account = cred["account_id"]
            primary = (await control.get_account(account))["primary_calendar_id"]
            singles = [
                e["id"]
                for e in await control.list_events(primary)
                if not e.get("recurrence") and e.get("status", "confirmed") != "cancelled"
            ]
            rows: dict[str, list[tuple[int, int]]] = {"initial": [], "incremental": [], "refresh": [], "anchor": []}

            before = await counted(control, account)
            await calsync_sync(context, calendar_id)
            after = await counted(control, account)
            rows["initial"].append((after[0] - before[0], after[1] - before[1]))
            stored = await stored_count(context, calendar_id)

            for rep in range(args.repeat):
                for mode in ("incremental", "refresh"):
                    event_id = singles[(rep * 2 + (mode == "refresh")) * 7 % len(singles)]
                    title = f"changed {mode} {rep}"
                    await control.update_event(primary, event_id, summary=title)
                    if mode == "refresh":
                        await expire_cached_token(context, calendar_id)
                    before = await counted(control, account)
                    result = await calsync_sync(context, calendar_id)
                    after = await counted(control, account)
                    assert await stored_name(context, calendar_id, event_id) == title, "change not stored"
                    assert result.mode == "incremental" and result.changes.count == 1, (result.mode, result.changes)
                    rows[mode].append((after[0] - before[0], after[1] - before[1]))

            credentials = await stored_credentials(context, calendar_id)
            listed = 0
            for rep in range(args.repeat):
                await control.update_event(primary, singles[(rep * 2 + 11) % len(singles)], summary=f"anchor {rep}")
                before = await counted(control, account)
                credentials, listed = await anchor_sync(context, platform, credentials, http)
                after = await counted(control, account)
                rows["anchor"].append((after[0] - before[0], after[1] - before[1]))
            results[platform] = {
                "stored_events": stored,
                "anchor_listed_events": listed,
                **{
                    name: {
                        "calls": statistics.median(c for c, _ in values),
                        "bytes": statistics.median(b for _, b in values),
                        "runs": values,
                    }
                    for name, values in rows.items()
                },
            }
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=500, help="events per calendar (default 500)")
    parser.add_argument("--recurring", type=int, default=0, help="of which recurring series (default 0)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (created if missing, then dropped)")
    parser.add_argument("--json", default=None, help="write results as JSON to this path ('-' for stdout)")
    args = parser.parse_args()
    quiet_logs()

    with running_emulator() as emulator, bench_database(args.db, "change", args.database_url) as db:
        results = asyncio.run(run(args, db.url, emulator.base_url))

    table = []
    for platform, r in results.items():
        anchor = r["anchor"]
        for name, label in (
            ("incremental", "calsync: one changed event (token cached)"),
            ("refresh", "calsync: one changed event, hourly token refresh due"),
            ("initial", "calsync: initial full sync (once per calendar)"),
            ("anchor", "anchor: token refresh + full re-list of the window"),
        ):
            row = r[name]
            table.append(
                [
                    platform,
                    label,
                    f"{row['calls']:g}",
                    f"{row['bytes']:,.0f}",
                    f"{anchor['calls'] / row['calls']:.1f}x" if name != "anchor" else "1x",
                    f"{anchor['bytes'] / row['bytes']:.0f}x" if name != "anchor" else "1x",
                ]
            )
    m = machine()
    print(f"machine: {m['nproc']} cores, {m['cpu']}, {m['ram_gb']} GB; db={args.db}; events={args.events}")
    for platform, r in results.items():
        print(
            f"{platform}: {r['stored_events']} events stored by calsync, {r['anchor_listed_events']} listed by anchor"
        )
    print_table(
        f"Provider cost of one changed event (median of {args.repeat})",
        ["platform", "strategy", "calls", "response bytes", "anchor/this calls", "anchor/this bytes"],
        table,
    )
    emit_json(args.json, {"benchmark": "change_cost", "args": vars(args), "results": results})


if __name__ == "__main__":
    main()
