"""The queries the background loops run stay bound by an index when the tables are large (PostgreSQL).

100,000 calendars, as many bots and webhook deliveries, are loaded with `generate_series` (tests/store/plans.py),
analysed, and the loops' hot paths run for real (sync claim and next due time, bot dispatch, webhook claim, meeting
queue). Every statement they send is captured as sent and `EXPLAIN`ed with its own parameters: none may read a
large table sequentially.
A sequential scan on a small table (a project, the change clock) is fine and not checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from calsync.bots.dispatch import dispatch_due
from calsync.context import AppContext
from calsync.meetings import queue as meeting_queue
from calsync.sync.snapshot import read_snapshots
from calsync.webhooks import claims as webhook_claims
from calsync.worker.claims import claim_due_calendars, seconds_until_next_due
from tests.store.plans import ON_POSTGRES, analyze, captured, load_calendars, sequential_scans
from tests.support.service import Tenant

pytestmark = [pytest.mark.timeout(600), ON_POSTGRES]


async def test_the_loops_queries_use_indexes_at_a_hundred_thousand_calendars(
    context: AppContext, tenant: Tenant, database_url: str
) -> None:
    now = datetime.now(UTC)
    await load_calendars(context, tenant.project_id, now)
    await analyze(context)
    with captured(context) as statements:
        # As the sync loop claims: the syncs' snapshots (rows, throttles, channels) read by the claim's transaction.
        claims = await claim_due_calendars(
            context.db,
            "plan-worker",
            now,
            limit=16,
            lease_seconds=60,
            read_snapshots=lambda session, ids: read_snapshots(context, session, ids, "plan-worker"),
        )
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
    assert all(c.snapshot is not None and c.snapshot.id == c.calendar_id and c.snapshot.channels for c in claims)
    assert statements, "the loops sent no statement"
    assert await sequential_scans(context, statements) == []
