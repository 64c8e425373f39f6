"""What the query-plan tests share (tests/store/test_*_plans.py): loading a deployment's worth of rows on
PostgreSQL with `generate_series`, capturing every statement the code sends (with its parameters, as sent), and
reading each one's plan: which large tables it reads sequentially, and how many rows of them it actually reads.

The size: 100,000 calendars of one project (half Google, half Microsoft), and as many bots, webhook deliveries,
queued meeting evaluations, push channels, meetings and, by default, 300,000 events (three per calendar, over
60 days around now, two calendars' copies per meeting). Every table is ANALYZEd and `enable_seqscan` stays on: a
query the planner can only answer by reading a whole table shows a sequential scan at this size."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import event, text

from calsync.context import AppContext
from calsync.store import change_horizon
from calsync.sync.channels import token_digest
from tests.support.driver_statements import driver_statements

# Plans are checked on PostgreSQL, where a deployment of this size runs.
ON_POSTGRES = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
CALENDARS = 100_000
# Every loaded push channel's token (Google's channel token, Graph's clientState).
CHANNEL_TOKEN = "plan-channel-token"
EVENTS = 300_000
LARGE_TABLES = (
    "calendars",
    "calendar_events",
    "bots",
    "webhook_deliveries",
    "meetings",
    "meeting_evaluations",
    "push_channels",
)
# A statement on a hot path reads at most a few pages' worth of a large table (a page is 100 rows, a claim or
# evaluation batch 500, a capped delivery count 1,000 per webhook and status): far below the table's size.
ROWS_READ_BOUND = 5_000


async def load_calendars(context: AppContext, project_id: int, now: datetime) -> None:
    """Calendars mostly not due (one in a thousand due now), each with an active push channel, one in 10,000
    disconnected (needing an operator's attention); bots mostly far
    ahead; one webhook whose deliveries are mostly settled; a long queue of meetings to evaluate."""
    blob = context.secrets.encrypt_json({"client_secret": "s", "refresh_token": "r"})
    params = {"project": project_id, "now": now, "n": CALENDARS, "blob": blob, "token": token_digest(CHANNEL_TOKEN)}
    async with context.db.write() as session:
        await session.execute(
            text(
                """
                INSERT INTO calendars (object_id, project_id, platform, state, client_id, encrypted_credentials,
                    created_at, updated_at, sync_due_at, sync_reason, consecutive_failures, push_state, account_key,
                    last_attempted_sync_at, last_successful_sync_at)
                SELECT 'cal_plan' || g, :project, CASE WHEN g % 2 = 0 THEN 'google' ELSE 'microsoft' END,
                    CASE WHEN g % 10000 = 5 THEN 'disconnected' ELSE 'connected' END, 'client', :blob,
                    CAST(:now AS timestamptz) - make_interval(secs => g),
                    CAST(:now AS timestamptz),
                    CAST(:now AS timestamptz) + make_interval(secs => CASE WHEN g % 1000 = 0 THEN 0 ELSE g END),
                    'safety_net', 0, 'active', 'acct' || g,
                    CAST(:now AS timestamptz) - make_interval(secs => g % 86400),
                    CAST(:now AS timestamptz) - make_interval(secs => g % 86400)
                FROM generate_series(1, :n) AS g
                """
            ),
            params,
        )
        await session.execute(
            text(
                """
                INSERT INTO push_channels (calendar_id, platform, channel_id, resource_id, token_hash, expires_at,
                    created_at, status)
                SELECT c.id, c.platform, 'chan_plan' || c.id, 'res' || c.id, :token,
                    CAST(:now AS timestamptz) + make_interval(secs => 86400 + c.id % 172800),
                    CAST(:now AS timestamptz), 'active'
                FROM calendars AS c WHERE c.project_id = :project
                """
            ),
            params,
        )
        # Bots: one in a thousand due now, the rest days ahead.
        await session.execute(
            text(
                """
                INSERT INTO bots (object_id, project_id, state, meeting_url, join_at, dispatch_at, dispatch_due_at,
                    join_offset_seconds, dispatch_lead_seconds, created_at, updated_at)
                SELECT 'bot_plan' || g, :project, 'scheduled', 'https://meet.google.com/abc-defg-hij', t.at, t.at, t.at,
                    0, 60, CAST(:now AS timestamptz), CAST(:now AS timestamptz)
                FROM generate_series(1, :n) AS g,
                LATERAL (SELECT CAST(:now AS timestamptz)
                    + make_interval(days => CASE WHEN g % 1000 = 0 THEN 0 ELSE 1 + g % 30 END) AS at) AS t
                """
            ),
            params,
        )
        # One webhook with its history: one delivery in a thousand pending, the rest delivered.
        subscription = (
            await session.execute(
                text(
                    """
                    INSERT INTO webhook_subscriptions (object_id, project_id, url, triggers, is_active, created_at,
                        updated_at, consecutive_failures)
                    VALUES ('webhook_plan', :project, 'https://hooks.example.com/calsync',
                        CAST('["calendar.events_update"]' AS jsonb), true, :now, :now, 0)
                    RETURNING id
                    """
                ),
                params,
            )
        ).scalar_one()
        await session.execute(
            text(
                """
                INSERT INTO webhook_deliveries (object_id, project_id, subscription_id, idempotency_key, trigger, data,
                    status, attempts, created_at, queued_at, next_attempt_at)
                SELECT 'del_plan' || g, :project, :subscription, 'key' || g, 'calendar.events_update',
                    CAST('{}' AS jsonb), CASE WHEN g % 1000 = 0 THEN 'pending' ELSE 'succeeded' END, 1,
                    CAST(:now AS timestamptz) - make_interval(secs => g), CAST(:now AS timestamptz),
                    CASE WHEN g % 1000 = 0 THEN CAST(:now AS timestamptz) END
                FROM generate_series(1, :n) AS g
                """
            ),
            {**params, "subscription": subscription},
        )
        await session.execute(
            text(
                """
                INSERT INTO meeting_evaluations (project_id, meeting_object_id, created_at)
                SELECT :project, 'mtg_plan' || g, CAST(:now AS timestamptz) FROM generate_series(1, :n) AS g
                """
            ),
            params,
        )


async def load_events(context: AppContext, project_id: int, now: datetime, count: int = EVENTS) -> None:
    """`count` events spread over the calendars, starts every few minutes over 60 days around now, a meeting URL on
    each and a meeting id shared by two calendars' copies (`mtg_plan<n>`: the queued evaluations name the first
    half of them); one in ten deleted. The project's change clock stands at `count`; each event's `change_seq` is
    its number, and as many meeting rows as meetings exist, half of them with a bot."""
    params = {"project": project_id, "now": now, "n": count, "calendars": CALENDARS}
    async with context.db.write() as session:
        await session.execute(
            text(
                """
                INSERT INTO calendar_events (object_id, project_id, calendar_id, platform_uuid, name, start_time,
                    end_time, span_class, is_all_day, is_deleted, meeting_url, meeting_platform, meeting_object_id,
                    attendees, content_hash, created_at, updated_at, change_seq, update_lag_class)
                SELECT 'evt_plan' || g, :project, c.id, 'uuid' || g, 'Meeting ' || g, t.start_at,
                    t.start_at + interval '30 minutes', 0, false, g % 10 = 0,
                    'https://meet.google.com/abc-defg-hij', 'google_meet', 'mtg_plan' || (g / 2),
                    CAST('[]' AS jsonb), 'hash', CAST(:now AS timestamptz) - make_interval(secs => :n - g),
                    CAST(:now AS timestamptz) - make_interval(secs => :n - g), g, 0
                FROM generate_series(1, :n) AS g
                JOIN calendars AS c ON c.object_id = 'cal_plan' || (1 + g % :calendars) AND c.project_id = :project,
                LATERAL (SELECT CAST(:now AS timestamptz)
                    + make_interval(mins => (g * 17) % 86400 - 43200) AS start_at) AS t
                """
            ),
            params,
        )
        await session.execute(text("UPDATE projects SET change_seq = :n WHERE id = :project"), params)
        await change_horizon.numbers_reach(session, count)
        await session.execute(
            text(
                """
                INSERT INTO meetings (object_id, project_id, name, start_time, end_time, meeting_url,
                    meeting_platform, events, decision, bot_object_id, has_bot, created_at, updated_at)
                SELECT 'mtg_plan' || m, :project, 'Meeting', t.start_at, t.start_at + interval '30 minutes',
                    'https://meet.google.com/abc-defg-hij', 'google_meet', CAST('[]' AS jsonb),
                    CAST('{"bot": false, "rule_id": null, "override": null, "reasons": []}' AS jsonb),
                    NULL, m % 2 = 0, CAST(:now AS timestamptz), CAST(:now AS timestamptz)
                FROM generate_series(1, :n / 2) AS m,
                LATERAL (SELECT CAST(:now AS timestamptz)
                    + make_interval(mins => (m * 34) % 86400 - 43200) AS start_at) AS t
                """
            ),
            params,
        )


async def analyze(context: AppContext) -> None:
    async with context.db.write() as session:
        for table in (*LARGE_TABLES, "webhook_subscriptions", "projects"):
            await session.execute(text(f"ANALYZE {table}"))


@contextmanager
def captured(context: AppContext) -> Iterator[list[tuple[str, Any]]]:
    """Every statement sent while inside, with its parameters as sent (a page request's reads included: on
    PostgreSQL the read and the write engine are one; the events API's pages read on the driver too)."""
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH", "INSERT")):
            # A statement sent for many rows is planned alike for each: its first row's parameters stand for all
            # (a batch of "insertmanyvalues" comes as one row of every value).
            rows = many and parameters and isinstance(parameters[0], tuple | list | dict)
            statements.append((statement, parameters[0] if rows else parameters))

    engine = context.db.write_engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        with driver_statements(statements):
            yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def sequential_scans(context: AppContext, statements: list[tuple[str, Any]]) -> list[str]:
    """The large tables each statement reads sequentially (EXPLAIN without running it)."""
    found = []
    async with context.db.write_engine.connect() as connection:
        for statement, parameters in statements:
            result = await connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
            plan = "\n".join(row[0] for row in result)
            found += [f"{table}: {statement[:120]}" for table in LARGE_TABLES if f"Seq Scan on {table} " in plan]
        await connection.rollback()
    return found


@dataclass(frozen=True)
class Read:
    statement: str
    rows: int  # rows of large tables read: returned by their scans plus those their filters removed


def _rows_read(node: dict[str, Any]) -> int:
    rows = 0
    if node.get("Relation Name") in LARGE_TABLES:
        loops = int(node.get("Actual Loops", 1))
        removed = int(node.get("Rows Removed by Filter", 0)) + int(node.get("Rows Removed by Index Recheck", 0))
        rows += (int(node.get("Actual Rows", 0)) + removed) * loops
    return rows + sum(_rows_read(child) for child in node.get("Plans", ()))


async def large_reads(
    context: AppContext, statements: list[tuple[str, Any]], bound: int = ROWS_READ_BOUND
) -> list[Read]:
    """The read-only statements that, run again (EXPLAIN ANALYZE, rolled back), read more than `bound` rows of
    the large tables: a full count or a walk that filters its way through a table shows here even when every
    step is an index scan."""
    found = []
    async with context.db.write_engine.connect() as connection:
        for statement, parameters in statements:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            result = await connection.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters)
            raw = result.scalar_one()
            plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
            rows = _rows_read(plan)
            if rows > bound:
                found.append(Read(statement[:160], rows))
        await connection.rollback()
    return found
