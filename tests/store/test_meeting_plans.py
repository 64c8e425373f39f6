"""Meeting evaluation and the meetings scan stay bound by an index among 100,000 calendars, 300,000 events (every
one with a meeting URL, two calendars' copies per meeting), 150,000 meetings and 100,000 queued evaluations
(PostgreSQL; the size and the load in tests/store/plans.py: 20 million events are too many for a test, and
at this size, with the tables ANALYZEd and `enable_seqscan` on, a query that needs a whole table shows a
sequential scan).

The evaluation loop runs for real (calsync.meetings.loop: a batch of the queue, then one project's next event
changes past its scan cursor), once without a rule (the fast way: rows of new meetings inserted whole) and once
with an active rule created through the API (the full way: meeting rows locked, members, rule bots, hand-made
bots). Every statement sent is `EXPLAIN`ed with its parameters: none may read a large table sequentially, and
none of the reads may read more than a few batches' worth of rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from calsync.context import AppContext
from calsync.meetings.loop import MeetingEvaluationLoop
from tests.store.plans import (
    EVENTS,
    ON_POSTGRES,
    analyze,
    captured,
    large_reads,
    load_calendars,
    load_events,
    sequential_scans,
)
from tests.support.service import Tenant

pytestmark = [pytest.mark.timeout(600), ON_POSTGRES]

# Event changes the scan finds past its cursor: a page of them, and part of another.
CHANGES_BEHIND = 700


async def scan_from(context: AppContext, project_id: int, change_seq: int) -> None:
    async with context.db.write() as session:
        await session.execute(
            text(
                """
                INSERT INTO meeting_scan_cursors (project_id, change_seq) VALUES (:project, :seq)
                ON CONFLICT (project_id) DO UPDATE SET change_seq = :seq
                """
            ),
            {"project": project_id, "seq": change_seq},
        )


async def test_meeting_evaluation_and_the_scan_use_indexes(
    context: AppContext, tenant: Tenant, database_url: str
) -> None:
    now = datetime.now(UTC)
    await load_calendars(context, tenant.project_id, now)
    await load_events(context, tenant.project_id, now)
    await scan_from(context, tenant.project_id, EVENTS - CHANGES_BEHIND)
    await analyze(context)
    loop = MeetingEvaluationLoop(context)

    with captured(context) as without_rule:
        evaluated = await loop.run_once()
    assert evaluated >= loop.batch_size, "a batch of the queue and a page of the scan"

    rule = await tenant.client.post(
        "/api/v1/bot_rules", json={"name": "Record", "event_selection": "all", "response": "any"}
    )
    assert rule.status_code == 201, rule.text
    await scan_from(context, tenant.project_id, EVENTS - CHANGES_BEHIND)
    await analyze(context)
    with captured(context) as with_rule:
        assert await loop.run_once() >= loop.batch_size
    async with context.db.read() as session:
        bots = (await session.execute(text("SELECT count(*) FROM bots WHERE rule_object_id IS NOT NULL"))).scalar_one()
    assert bots > 0, "the rule's evaluation created bots (the full way ran)"

    statements = without_rule + with_rule
    assert await sequential_scans(context, statements) == []
    assert await large_reads(context, statements) == []
