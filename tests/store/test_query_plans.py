"""The queries the background loops run stay bound by an index when the tables are large (PostgreSQL).

100,000 calendars, as many bots and webhook deliveries, are loaded with `generate_series`, analysed, and the loops'
hot paths run for real (sync claim and next due time, bot dispatch, webhook claim, meeting queue). Every statement
they send is captured as sent and `EXPLAIN`ed with its own parameters: none may read a large table sequentially.
A sequential scan on a small table (a project, the change clock) is fine and not checked."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text

from calsync.bots.dispatch import dispatch_due
from calsync.context import AppContext
from calsync.meetings import queue as meeting_queue
from calsync.webhooks import claims as webhook_claims
from calsync.worker.claims import claim_due_calendars, seconds_until_next_due
from tests.support.service import Tenant

pytestmark = pytest.mark.timeout(600)

CALENDARS = 100_000
LARGE_TABLES = ("calendars", "calendar_events", "bots", "webhook_deliveries", "meetings", "meeting_evaluations")


async def load(context: AppContext, project_id: int, now: datetime) -> None:
    """Calendars mostly not due (a few due now), bots mostly far ahead, deliveries mostly settled, a long queue of
    meetings to evaluate."""
    blob = context.secrets.encrypt_json({"client_secret": "s", "refresh_token": "r"})
    async with context.db.write() as session:
        await session.execute(
            text(
                """
                INSERT INTO calendars (object_id, project_id, platform, state, client_id, encrypted_credentials,
                    created_at, updated_at, sync_due_at, sync_reason, consecutive_failures, push_state, account_key)
                SELECT 'cal_plan' || g, :project, CASE WHEN g % 2 = 0 THEN 'google' ELSE 'microsoft' END,
                    'connected', 'client', :blob, CAST(:now AS timestamptz), CAST(:now AS timestamptz),
                    CAST(:now AS timestamptz) + make_interval(secs => CASE WHEN g % 1000 = 0 THEN 0 ELSE g END),
                    'safety_net', 0, 'active', 'acct' || g
                FROM generate_series(1, :n) AS g
                """
            ),
            {"project": project_id, "blob": blob, "now": now, "n": CALENDARS},
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
            {"project": project_id, "now": now, "n": CALENDARS},
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
                {"project": project_id, "now": now},
            )
        ).scalar_one()
        await session.execute(
            text(
                """
                INSERT INTO webhook_deliveries (object_id, project_id, subscription_id, idempotency_key, trigger, data,
                    status, attempts, created_at, queued_at, next_attempt_at)
                SELECT 'del_plan' || g, :project, :subscription, 'key' || g, 'calendar.events_update',
                    CAST('{}' AS jsonb), CASE WHEN g % 1000 = 0 THEN 'pending' ELSE 'succeeded' END, 1,
                    CAST(:now AS timestamptz), CAST(:now AS timestamptz),
                    CASE WHEN g % 1000 = 0 THEN CAST(:now AS timestamptz) END
                FROM generate_series(1, :n) AS g
                """
            ),
            {"project": project_id, "subscription": subscription, "now": now, "n": CALENDARS},
        )
        await session.execute(
            text(
                """
                INSERT INTO meeting_evaluations (project_id, meeting_object_id, created_at)
                SELECT :project, 'mtg_plan' || g, CAST(:now AS timestamptz) FROM generate_series(1, :n) AS g
                """
            ),
            {"project": project_id, "now": now, "n": CALENDARS},
        )
    async with context.db.write() as session:
        for table in ("calendars", "bots", "webhook_subscriptions", "webhook_deliveries", "meeting_evaluations"):
            await session.execute(text(f"ANALYZE {table}"))


@contextmanager
def captured(context: AppContext) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH", "INSERT")):
            # A statement sent for many rows is planned alike for each: its first row's parameters stand for all.
            statements.append((statement, parameters[0] if many else parameters))

    engine = context.db.write_engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
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


async def test_the_loops_queries_use_indexes_at_a_hundred_thousand_calendars(
    context: AppContext, tenant: Tenant, database_url: str
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("query plans are checked on PostgreSQL, where a deployment of this size runs")
    now = datetime.now(UTC)
    await load(context, tenant.project_id, now)
    with captured(context) as statements:
        claims = await claim_due_calendars(context.db, "plan-worker", now, limit=16, lease_seconds=60)
        await seconds_until_next_due(context.db, now + timedelta(hours=1))
        async with context.db.write() as session:
            await dispatch_due(session, now)
        async with context.db.write() as session:
            await webhook_claims.claim_due(
                session,
                context.secrets,
                owner="plan-worker",
                now=now,
                lease=timedelta(seconds=60),
                limit=16,
                concurrency=webhook_claims.Concurrency(healthy=8, struggling=1, in_flight={}),
                full=[],
            )
        async with context.db.write() as session:
            await meeting_queue.claim(session, limit=100)
    # A full batch of the due ones (one in a thousand), and only them.
    assert len(claims) == 16 and all(claim.calendar_id % 1000 == 0 for claim in claims)
    assert statements, "the loops sent no statement"
    assert await sequential_scans(context, statements) == []
