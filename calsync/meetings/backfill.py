"""Meetings for events stored before meetings existed.

Migration 0006 added `calendar_events.meeting_object_id` empty, and a sync sets it only on events it writes, so an
event that never changes again would stay outside every meeting (no rule would ever give it a bot). This loop gives
those events their meeting, a batch per short transaction, and queues the meetings that have not ended for
evaluation. It runs once per worker process start and stops for good when nothing is left: every event written
since 0006 carries its meeting, so none can become empty again.

The rows are taken `FOR NO KEY UPDATE SKIP LOCKED` on PostgreSQL: a row a sync is writing is skipped, never waited
for (that sync sets its meeting itself), so the backfill takes no part in the lock order of docs/architecture.md.
`meeting_id` is not a tracked field, so `updated_at` does not move: the events' content did not change.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.context import AppContext
from calsync.meetings import queue
from calsync.store.models import CalendarEvent, Project
from calsync.store.work_signal import MEETING_EVALUATION_LOOP
from calsync.sync.meeting_keys import event_meeting_id

log = structlog.get_logger(__name__)

BATCH_SIZE = 500
_KEY_COLUMNS = (
    CalendarEvent.id,
    CalendarEvent.calendar_id,
    CalendarEvent.platform_uuid,
    CalendarEvent.start_time,
    CalendarEvent.end_time,
    CalendarEvent.meeting_url,
    CalendarEvent.ical_uid,
)


async def backfill_batch(session: AsyncSession, now: datetime, *, limit: int = BATCH_SIZE) -> int:
    """Give up to `limit` events of one project their meeting (one index range per project looked at); returns how
    many were given one (0: none is left)."""
    for project_id in (await session.execute(select(Project.id).order_by(Project.id))).scalars():
        statement = (
            select(*_KEY_COLUMNS)
            .where(CalendarEvent.project_id == project_id, CalendarEvent.meeting_object_id.is_(None))
            .order_by(CalendarEvent.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            statement = statement.with_for_update(skip_locked=True, key_share=True, of=CalendarEvent)
        rows = (await session.execute(statement)).mappings().all()
        if not rows:
            continue
        meetings = {row["id"]: event_meeting_id(project_id, dict(row)) for row in rows}
        await session.execute(
            update(CalendarEvent), [{"id": event_id, "meeting_object_id": m} for event_id, m in meetings.items()]
        )
        await queue.enqueue(session, project_id, {meetings[row["id"]] for row in rows if row["end_time"] > now}, now)
        return len(rows)
    return 0


class MeetingBackfillLoop:
    """A worker loop: batches until no event lacks its meeting, then nothing (no query) until the process restarts."""

    name = "meeting_backfill"

    def __init__(self, context: AppContext, *, batch_size: int = BATCH_SIZE) -> None:
        self.context = context
        self.batch_size = batch_size
        self.done = False
        self.events = 0

    async def run_once(self) -> int:
        if self.done:
            return 0

        async def body(session: AsyncSession) -> int:
            return await backfill_batch(session, self.context.clock(), limit=self.batch_size)

        given = await self.context.db.write_retrying(body, what="backfill_meetings")
        if given:
            self.events += given
            self.context.work_signal.kick(MEETING_EVALUATION_LOOP)
            return given
        self.done = True
        if self.events:
            log.info("meeting_backfill_done", events=self.events)
        return 0
