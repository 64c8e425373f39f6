"""Re-evaluating a rule over 100,000 events (target: under a minute).

A fresh database gets one project with `--calendars` calendars (owners `user<i>@acme.test`) and `--events` events
in the future, inserted in bulk: every meeting is on `--copies` calendars (the same link and start, as invitations
are), so the events form events / copies meetings; a quarter have an external guest, one in eight is declined by
its calendar's owner. Then, timed, as `POST /api/v1/bot_rules` and `PATCH` do it:

1. create a rule (external meetings, not declined) and queue the window's meetings (one INSERT … SELECT);
2. evaluate the queue to the end in this process (calsync.meetings.loop.evaluate_all: batches of 500 meetings,
   one transaction each) — the bots are created;
3. change the rule (`title_exclude`), queue again, evaluate again — bots are kept, moved or cancelled.

    .venv/bin/python bench/meeting_reevaluation.py --db both
    .venv/bin/python bench/meeting_reevaluation.py --db sqlite --events 10000     # quick
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    bench_context,
    bench_database,
    database_kinds,
    emit_json,
    insert_calendars,
    machine,
    new_tenant,
    print_table,
    quiet_logs,
    seeded_accounts,
)

CHUNK = 2000


async def insert_events(context: Any, project_id: int, calendar_ids: list[int], events: int, copies: int) -> int:
    from sqlalchemy import insert, update

    from calsync.ids import new_id
    from calsync.store.models import Calendar, CalendarEvent
    from calsync.sync.meeting_keys import event_meeting_id

    async with context.db.write() as session:
        for i, calendar_id in enumerate(calendar_ids):
            await session.execute(
                update(Calendar).where(Calendar.id == calendar_id).values(owner_email=f"user{i}@acme.test")
            )
    now = datetime.now(UTC)
    base = now.replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    meetings = events // copies
    rows: list[dict[str, Any]] = []
    seq = 0
    for m in range(meetings):
        start = base + timedelta(minutes=30 * (m % 1440), days=m // 1440 % 30)
        first = (m * copies) % len(calendar_ids)
        owners = [(first + c) % len(calendar_ids) for c in range(copies)]
        guests = [{"email": f"user{o}@acme.test", "response_status": "accepted"} for o in owners]
        if m % 4 == 0:
            guests.append({"email": f"guest{m}@contoso.test", "response_status": "accepted"})
        for c, owner in enumerate(owners):
            mine = [
                {**g, "response_status": "declined"} if g["email"] == f"user{owner}@acme.test" and m % 8 == c else g
                for g in guests
            ]
            seq += 1
            values = {
                "object_id": new_id("evt_"),
                "project_id": project_id,
                "calendar_id": calendar_ids[owner],
                "platform_uuid": f"e{m}-{c}",
                "name": "Weekly sync" if m % 3 == 0 else "Customer call",
                "start_time": start,
                "end_time": start + timedelta(minutes=30),
                "is_all_day": False,
                "is_deleted": False,
                "status": "confirmed",
                "meeting_url": f"https://meet.google.com/m{m:09d}",
                "meeting_platform": "google_meet",
                "organizer": {"email": f"user{owners[0]}@acme.test", "name": None},
                "attendees": mine,
                "ical_uid": f"uid-{m}@acme.test",
                "content_hash": "bench",
                "created_at": now,
                "updated_at": now,
                "change_seq": seq,
            }
            values["meeting_object_id"] = event_meeting_id(project_id, values)
            rows.append(values)
    for start_row in range(0, len(rows), CHUNK):
        async with context.db.write() as session:
            await session.execute(insert(CalendarEvent), rows[start_row : start_row + CHUNK])
    return len(rows)


async def analyze(context: Any) -> None:
    """What autovacuum does after a bulk load (this machine's server runs without it): planner statistics. Without
    them PostgreSQL reads a freshly loaded table's rows through the wrong index (0.25 s instead of
    milliseconds per batch of 500 meetings)."""
    from sqlalchemy import text

    if context.db.is_sqlite:
        return
    async with context.db.write() as session:
        await session.execute(text("ANALYZE"))


async def timed_evaluation(context: Any, project_id: int, change: dict[str, Any] | None) -> dict[str, Any]:
    from sqlalchemy import func, select

    from calsync.api.rule_schemas import DEFAULTS
    from calsync.meetings import rule_store
    from calsync.meetings.loop import evaluate_all
    from calsync.store.models import Bot, BotRule
    from calsync.store.models.bot import LIVE_STATES

    started = time.perf_counter()
    async with context.db.write() as session:
        now = context.clock()
        if change is None:
            rule = rule_store.new_rule(project_id, {**DEFAULTS, "name": "External", "event_selection": "external"}, now)
            session.add(rule)
            await session.flush()
        else:
            rule = (await session.execute(select(BotRule))).scalar_one()
            for name, value in change.items():
                setattr(rule, name, value)
        await rule_store.reevaluate(session, rule, now)
        queued = rule.evaluation_total
    queue_seconds = time.perf_counter() - started
    evaluated = await evaluate_all(context)
    seconds = time.perf_counter() - started
    async with context.db.read() as session:
        live = (await session.execute(select(func.count()).where(Bot.state.in_(LIVE_STATES)))).scalar_one()
        total = (await session.execute(select(func.count()).select_from(Bot))).scalar_one()
    return {
        "step": "rule created" if change is None else "rule changed",
        "meetings_queued": queued,
        "meetings_evaluated": evaluated,
        "queue_seconds": queue_seconds,
        "seconds": seconds,
        "live_bots": int(live),
        "bots": int(total),
    }


async def one_run(args: argparse.Namespace, database_url: str) -> list[dict[str, Any]]:
    async with bench_context(database_url, None) as context:
        tenant = await new_tenant(context)
        accounts = seeded_accounts(7, args.calendars // 2, args.calendars - args.calendars // 2)
        calendar_ids = await insert_calendars(context, tenant.project_id, accounts, due=None)
        stored = await insert_events(context, tenant.project_id, calendar_ids, args.events, args.copies)
        await analyze(context)
        print(f"  {stored:,} events stored", flush=True)
        results = [await timed_evaluation(context, tenant.project_id, None)]
        results.append(await timed_evaluation(context, tenant.project_id, {"title_exclude": ["weekly"]}))
        for result in results:
            result["events"] = stored
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--calendars", type=int, default=200)
    parser.add_argument("--copies", type=int, default=2, help="calendars each meeting is on")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    quiet_logs()
    results: dict[str, list[dict[str, Any]]] = {}
    for kind in database_kinds(args.db):
        with bench_database(kind, "reeval", args.database_url) as db:
            print(f"{kind}:", flush=True)
            results[kind] = asyncio.run(one_run(args, db.url))
            for step in results[kind]:
                print(f"  {step}", flush=True)
    m = machine()
    print(f"\nmachine: {m['nproc']} cores, {m['cpu']}, {m['ram_gb']} GB, load average {m['loadavg']}")
    rows = [
        [
            kind,
            r["step"],
            f"{r['events']:,}",
            f"{r['meetings_queued']:,}",
            f"{r['queue_seconds']:.2f}",
            f"{r['seconds']:.1f}",
            f"{r['meetings_evaluated'] / r['seconds']:,.0f}",
            f"{r['live_bots']:,} / {r['bots']:,}",
        ]
        for kind, runs in results.items()
        for r in runs
    ]
    print_table(
        "Re-evaluating a rule (one evaluator, in process)",
        ["db", "step", "events", "meetings queued", "queue s", "total s", "meetings/s", "live / all bots"],
        rows,
    )
    emit_json(args.json, {"benchmark": "meeting_reevaluation", "args": vars(args), "results": results})


if __name__ == "__main__":
    main()
