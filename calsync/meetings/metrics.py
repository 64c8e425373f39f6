"""Prometheus gauges of the meetings feature, read from the database at each scrape of the api's /metrics."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.meetings.scan import events_behind
from calsync.store.models import MeetingEvaluation

# A scrape reads at most this many queue rows, and this many changed events per project: beyond it the gauge says
# "at least this many", and the count stays a few ms however far behind evaluation is.
COUNT_CAP = 100_000

BACKLOG = Gauge(
    "calsync_meetings_backlog",
    "Meeting evaluations waiting: queued meetings plus event changes not yet scanned (each counted up to 100,000)",
)


async def backlog(session: AsyncSession) -> int:
    """What the evaluation loops still have to do: queued meetings (capped) and event changes past the scan cursors."""
    capped = select(MeetingEvaluation.id).limit(COUNT_CAP).subquery()
    queued = int((await session.execute(select(func.count()).select_from(capped))).scalar_one())
    return queued + await events_behind(session, cap=COUNT_CAP)


async def refresh_gauges(session: AsyncSession, _now: datetime) -> None:
    BACKLOG.set(await backlog(session))
