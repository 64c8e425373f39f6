"""Which meetings to evaluate after syncs, read from the projects' event changes instead of queued by the syncs.

Every event a sync writes takes its project's next `change_seq` under the project's change clock, so the numbers
become visible in commit order (calsync.sync.apply). A cursor per project (`meeting_scan_cursors`) says how far the
evaluation has read: the meetings of the events past it are still to be evaluated. A sync page thus writes nothing
for its meetings (an initial sync used to insert a queue row per event, a measurable share of its CPU:
docs/benchmarks.md §12), and an evaluation finds them with one range read of an index that already exists
(`ix_events_project_change_seq`). A cancelled event keeps its meeting id and takes a new number: its meeting is
re-evaluated like any other change.

What is not an event change of the meeting still goes through the queue (calsync.meetings.queue): rule and
settings changes, overrides, a calendar's disconnection or deletion, and the meeting an event moved away from.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.store.due_work import MEETING_SCANS, is_postgres
from calsync.store.models import CalendarEvent, MeetingScanCursor, Project

# Events read per transaction (one sync page's worth): their meetings are evaluated in the same transaction.
SCAN_EVENTS = 500
# Projects looked at per claim: those another evaluator holds are skipped.
_CANDIDATES = 10


def _behind() -> ColumnElement[bool]:
    return Project.change_seq > func.coalesce(MeetingScanCursor.change_seq, 0)


async def claim(session: AsyncSession) -> MeetingScanCursor | None:
    """The cursor of a project with event changes past it, locked for this transaction (MEETING_SCANS: skipping
    those another evaluator holds), created at 0 for a project that has none."""
    candidates = (
        select(Project.id, MeetingScanCursor.project_id)
        .outerjoin(MeetingScanCursor, MeetingScanCursor.project_id == Project.id)
        .where(_behind())
        .order_by(Project.id)
        .limit(_CANDIDATES)
    )
    rows = (await session.execute(candidates)).all()
    missing = [{"project_id": project_id, "change_seq": 0} for project_id, cursor in rows if cursor is None]
    if missing:
        insert = postgresql.insert(MeetingScanCursor) if is_postgres(session) else sqlite.insert(MeetingScanCursor)
        await session.execute(insert.values(missing).on_conflict_do_nothing(index_elements=["project_id"]))
    if not rows:
        return None
    # The first candidate no other evaluator holds, in one statement.
    project_ids = [project_id for project_id, _ in rows]
    taken = await MEETING_SCANS.take(
        session, None, MeetingScanCursor.project_id.in_(project_ids), limit=1, refresh=True
    )
    return taken[0] if taken else None


async def changed_meetings(session: AsyncSession, cursor: MeetingScanCursor, limit: int) -> tuple[list[str], int]:
    """The meetings of the next `limit` event changes past the cursor, and the number the cursor moves to."""
    # The project's counter first: every number up to it is committed (its events with it), so the cursor may
    # move up to it when no stored event is left past the cursor (the rows were deleted since, or changed again).
    newest = (await session.execute(select(Project.change_seq).where(Project.id == cursor.project_id))).scalar()
    statement = (
        select(CalendarEvent.change_seq, CalendarEvent.meeting_object_id)
        .where(
            CalendarEvent.project_id == cursor.project_id,
            CalendarEvent.change_seq > cursor.change_seq,
            CalendarEvent.change_seq <= (newest or 0),
        )
        .order_by(CalendarEvent.change_seq)
        .limit(limit)
    )
    rows = (await session.execute(statement)).all()
    if len(rows) < limit:
        return sorted({meeting for _, meeting in rows if meeting}), max(int(newest or 0), cursor.change_seq)
    return sorted({meeting for _, meeting in rows if meeting}), int(rows[-1].change_seq)


async def events_behind(session: AsyncSession) -> int:
    """Event changes not read yet, over all projects (an upper bound: a changed event counts once per change)."""
    statement = (
        select(func.coalesce(func.sum(Project.change_seq - func.coalesce(MeetingScanCursor.change_seq, 0)), 0))
        .select_from(Project)
        .outerjoin(MeetingScanCursor, MeetingScanCursor.project_id == Project.id)
        .where(_behind())
    )
    return int((await session.execute(statement)).scalar_one())
