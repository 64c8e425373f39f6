"""Which meetings to evaluate after syncs, read from the projects' event changes instead of queued by the syncs.

Every event a sync writes takes a change number (`change_seq`) from the change clock (calsync.sync.apply): on
PostgreSQL from one sequence for all projects, read only below the horizon of the writers still running
(calsync.store.change_horizon), so the numbers a reader sees below it never gain a smaller one later; on SQLite
from the project's counter, in commit order. A cursor per project (`meeting_scan_cursors`) says how far the
evaluation has read: the meetings of the events past it are still to be evaluated. A sync page thus writes nothing
for its meetings (an initial sync used to insert a queue row per event, a measurable share of its CPU:
docs/benchmarks.md §12), and an evaluation finds them with one range read of an index that already exists
(`ix_events_project_change_seq`). A cancelled event keeps its meeting id and takes a new number: its meeting is
re-evaluated like any other change.

What is not an event change of the meeting still goes through the queue (calsync.meetings.queue): rule and
settings changes, overrides, a calendar's disconnection or deletion, and the meeting an event moved away from.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.store import change_horizon
from calsync.store.due_work import MEETING_SCANS, is_postgres
from calsync.store.models import CalendarEvent, MeetingScanCursor, Project

# Events read per transaction (one sync page's worth): their meetings are evaluated in the same transaction.
SCAN_EVENTS = 500
# Projects looked at per claim: those another evaluator holds are skipped.
_CANDIDATES = 10


async def horizon(session: AsyncSession) -> int | None:
    """The change numbers below which every writer has ended, read before the scan's reads (PostgreSQL); None on
    SQLite, where every number taken is committed (its writers run one at a time)."""
    return (await change_horizon.read(session)).number if is_postgres(session) else None


def _behind(below: int | None) -> ColumnElement[bool]:
    """The project has a stored event past its cursor (and below the horizon): one probe of the change index."""
    later = select(CalendarEvent.id).where(
        CalendarEvent.project_id == Project.id,
        CalendarEvent.change_seq > func.coalesce(MeetingScanCursor.change_seq, 0),
    )
    if below is not None:
        later = later.where(CalendarEvent.change_seq < below)
    return exists(later)


async def claim(session: AsyncSession, below: int | None) -> MeetingScanCursor | None:
    """The cursor of a project with event changes past it (below the horizon `below`), locked for this transaction
    (MEETING_SCANS: skipping those another evaluator holds), created at 0 for a project that has none."""
    candidates = (
        select(Project.id, MeetingScanCursor.project_id)
        .outerjoin(MeetingScanCursor, MeetingScanCursor.project_id == Project.id)
        .where(_behind(below))
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


async def changed_meetings(
    session: AsyncSession, cursor: MeetingScanCursor, limit: int, below: int | None
) -> tuple[list[str], int]:
    """The meetings of the next `limit` event changes past the cursor, and the number the cursor moves to."""
    # Every number up to `newest` is settled (its events committed with it, or its writer rolled back), so the
    # cursor may move up to it when no stored event is left past the cursor (the rows were deleted since, or
    # changed again). PostgreSQL: below the horizon; SQLite: the project's counter.
    if below is not None:
        newest = below - 1
    else:
        counter = select(Project.change_seq).where(Project.id == cursor.project_id)
        newest = int((await session.execute(counter)).scalar() or 0)
    statement = (
        select(CalendarEvent.change_seq, CalendarEvent.meeting_object_id)
        .where(
            CalendarEvent.project_id == cursor.project_id,
            CalendarEvent.change_seq > cursor.change_seq,
            CalendarEvent.change_seq <= newest,
        )
        .order_by(CalendarEvent.change_seq)
        .limit(limit)
    )
    rows = (await session.execute(statement)).all()
    if len(rows) < limit:
        return sorted({meeting for _, meeting in rows if meeting}), max(newest, cursor.change_seq)
    return sorted({meeting for _, meeting in rows if meeting}), int(rows[-1].change_seq)


async def events_behind(session: AsyncSession, cap: int = 100_000) -> int:
    """Stored events changed past their project's cursor, over all projects, counted up to `cap` per project: one
    statement, a bounded range of the change index per project, so a scrape stays cheap however many projects
    there are and however far behind the evaluation is."""
    read_to = func.coalesce(MeetingScanCursor.change_seq, 0)
    past = (
        select(CalendarEvent.id)
        .where(CalendarEvent.project_id == Project.id, CalendarEvent.change_seq > read_to)
        .limit(cap)
        .correlate(Project, MeetingScanCursor)
        .subquery()
    )
    per_project = select(func.count()).select_from(past).scalar_subquery()
    statement = select(func.coalesce(func.sum(per_project), 0)).select_from(
        Project.__table__.outerjoin(MeetingScanCursor, MeetingScanCursor.project_id == Project.id)
    )
    return int((await session.execute(statement)).scalar_one())
