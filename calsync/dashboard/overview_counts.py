"""The overview's calendar counts at any size: exact for a project of up to EXACT_UP_TO calendars, estimated above.

Counting exactly reads every calendar row of the project (no index answers "by platform and state, with a sync
error"), so its cost grows with the deployment (docs/benchmarks.md §10). Above EXACT_UP_TO (found by a count that
stops there), PostgreSQL answers from a sample of the calendars table's pages (`TABLESAMPLE SYSTEM`, about
SAMPLE_ROWS rows whatever the table's size), scaled by the table's row estimate (`pg_class.reltuples`, kept by
autovacuum's ANALYZE): the page shows "about N". The calendars that need attention are few when all is well, too
few for a sample to see: they are counted exactly through their partial index up to ATTENTION_CAP. A project whose
calendars are too few in the sample to estimate from (a small share of a large table) is counted exactly. SQLite,
the embedded default for small deployments, always counts exactly."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, func, literal, select, tablesample, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from calsync.dashboard import queries
from calsync.dashboard.queries import CalendarCounts, HourBucket, hour_of, json_present, needs_attention, tally
from calsync.store.models import Calendar

Overview = tuple[CalendarCounts, list[HourBucket]]

EXACT_UP_TO = 2_000
SAMPLE_ROWS = 3_000
# Fewer of the project's rows than this in the sample make too rough an estimate: counted exactly instead.
MIN_SAMPLED = 300
# The calendars needing attention are counted exactly up to this many, estimated beyond.
ATTENTION_CAP = 1_000


async def calendar_overview(session: AsyncSession, project_id: int, now: datetime, hours: int = 24) -> Overview:
    if session.get_bind().dialect.name == "sqlite" or not await _more_than(session, project_id, EXACT_UP_TO):
        return await queries.calendar_overview(session, project_id, now, hours)
    table_rows = float(
        (await session.execute(text("SELECT reltuples FROM pg_class WHERE oid = 'calendars'::regclass"))).scalar_one()
    )
    percent = 100.0 * SAMPLE_ROWS / table_rows if table_rows > 0 else 100.0
    estimated = await _sampled(session, project_id, now, hours, percent, table_rows) if percent < 100 else None
    if estimated is None:
        return await queries.calendar_overview(session, project_id, now, hours)
    # The few that need attention are what a sample misses: counted through their partial index, up to a cap.
    attention = await _needing_attention(session, project_id, ATTENTION_CAP)
    if attention < ATTENTION_CAP:
        estimated[0].attention = attention
    return estimated


async def _needing_attention(session: AsyncSession, project_id: int, cap: int) -> int:
    """How many of the project's calendars need attention, counted up to `cap` (ix_calendars_project_attention)."""
    probe = (
        select(literal(1))
        .where(Calendar.project_id == project_id, Calendar.deleted_at.is_(None), needs_attention(session))
        .order_by(Calendar.created_at)
        .limit(cap)
    )
    return int((await session.execute(select(func.count()).select_from(probe.subquery()))).scalar_one())


async def _more_than(session: AsyncSession, project_id: int, limit: int) -> bool:
    """Whether the project has more than `limit` calendars: a walk of its index that stops past `limit`."""
    # In the (project, created_at) index's order, so that PostgreSQL walks it rather than the table's start.
    probe = (
        select(literal(1))
        .where(Calendar.project_id == project_id, Calendar.deleted_at.is_(None))
        .order_by(Calendar.created_at)
        .limit(limit + 1)
    )
    return int((await session.execute(select(func.count()).select_from(probe.subquery()))).scalar_one()) > limit


async def _sampled(
    session: AsyncSession, project_id: int, now: datetime, hours: int, percent: float, table_rows: float
) -> Overview | None:
    # Both statements read the same pages (one seed), so the second is scaled like the first. The numbers are
    # kept unrounded (a total is their sum) and rounded where shown (CalendarCounts.shown).
    seed = int(now.timestamp())
    sampled = aliased(
        Calendar, tablesample(Calendar.__table__, func.system(percent), name="sampled", seed=literal(seed))
    )
    mine = and_(sampled.project_id == project_id, sampled.deleted_at.is_(None))
    groups = (
        await session.execute(
            select(
                mine.label("mine"),
                sampled.platform,
                sampled.state,
                func.count(),
                tally(session, needs_attention(session, sampled)),
                tally(session, json_present(session, sampled.last_sync_error)),
                tally(session, sampled.push_state == "failing"),
                tally(session, sampled.push_state == "active"),
            ).group_by(mine, sampled.platform, sampled.state)
        )
    ).all()
    seen = sum(int(row[3]) for row in groups)
    if sum(int(row[3]) for row in groups if row[0]) < MIN_SAMPLED:
        return None
    scale = table_rows / seen
    counts = CalendarCounts(estimated=True)
    for is_mine, platform, state, number, attention, errors, failing, active in groups:
        if not is_mine:
            continue
        counts.by_platform_state[(platform, state)] = round(number * scale)
        counts.attention += round(attention * scale)
        counts.sync_errors += round(errors * scale)
        counts.push_failing += round(failing * scale)
        counts.push_active += round(active * scale)

    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=hours)
    attempted = sampled.last_attempted_sync_at
    hour = hour_of(session, attempted)
    by_hour = {
        str(hour_text): (number * scale, (succeeded or 0) * scale)
        for hour_text, number, succeeded in await session.execute(
            select(hour, func.count(), tally(session, sampled.last_successful_sync_at == attempted))
            .where(mine, attempted >= start, attempted < end)
            .group_by(hour)
        )
    }
    buckets = []
    for index in range(hours):
        hour_start = start + timedelta(hours=index)
        seen_in_hour, ok = by_hour.get(hour_start.strftime("%Y-%m-%d %H"), (0.0, 0.0))
        buckets.append(HourBucket(hour_start, round(ok), round(seen_in_hour) - round(ok)))
    return counts, buckets
