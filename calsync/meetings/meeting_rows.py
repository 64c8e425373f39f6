"""A meeting's stored row as an evaluation leaves it: what it shows (its representative copy, its events with
their owners' responses, its decision, the live bot serving it), updated in place, inserted whole, or deleted."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.meetings import decide
from calsync.store.models import Bot, Meeting

# The columns an evaluation writes, besides the keys and the timestamps.
_SHOWN = ("name", "start_time", "end_time", "meeting_url", "meeting_platform", "ical_uid", "events", "decision")


def placeholder() -> dict[str, Any]:
    """What a row inserted before its meeting is evaluated under its lock shows (the evaluation overwrites it)."""
    nothing: dict[str, Any] = dict.fromkeys((*_SHOWN, "bot_object_id"))
    decision: dict[str, Any] = {"bot": False, "rule_id": None, "override": None, "reasons": []}
    return {**nothing, "events": [], "decision": decision, "has_bot": False}


def shown(members: Sequence[decide.Member], decision: decide.Decision, bot: Bot | None) -> dict[str, Any]:
    """What the row of a meeting with `members` (at least one) shows."""
    first = representative(members)
    return {
        "name": first.name,
        "start_time": first.start_time,
        "end_time": first.end_time,
        "meeting_url": first.meeting_url,
        "meeting_platform": next((m.meeting_platform for m in members if m.meeting_platform), None),
        "ical_uid": next((m.ical_uid for m in members if m.ical_uid), None),
        "events": _events(members),
        "decision": decision.json(),
        "bot_object_id": bot.object_id if bot is not None else None,
        "has_bot": bot is not None,
    }


def _events(members: Sequence[decide.Member]) -> list[dict[str, Any]]:
    return [
        {"event_id": m.event_id, "calendar_id": m.calendar_id, "response_status": decide.response_status(m)}
        for m in members
    ]


def representative(members: Sequence[decide.Member]) -> decide.Member:
    """The organizer's copy when one of the calendars is the organizer's, else the oldest member."""
    for member in members:
        if member.owner_email and (member.organizer_email or "").lower() == member.owner_email.lower():
            return member
    return members[0]


async def write_meeting(
    session: AsyncSession,
    meeting: Meeting,
    members: list[decide.Member],
    decision: decide.Decision,
    bot: Bot | None,
    now: datetime,
) -> None:
    """The locked row of an evaluated meeting, as the evaluation leaves it."""
    if not members and bot is None:
        # Nothing left to show: the row goes (it comes back, with a new evaluation, if an event returns).
        await session.delete(meeting)
        return
    before = _shown(meeting)
    if members:
        for column, value in shown(members, decision, bot).items():
            setattr(meeting, column, value)
    else:
        meeting.events = []
        meeting.decision = decision.json()
        meeting.bot_object_id = bot.object_id if bot is not None else None
        meeting.has_bot = bot is not None
    if _shown(meeting) != before:
        meeting.updated_at = now  # (an evaluation that changes nothing writes nothing: no UPDATE at all)


def _shown(meeting: Meeting) -> tuple[Any, ...]:
    return (*(getattr(meeting, column) for column in _SHOWN), meeting.bot_object_id)


async def insert_meetings(
    session: AsyncSession, project_id: int, rows: dict[str, dict[str, Any]], now: datetime
) -> set[str]:
    """New meeting rows (`rows`: what each shows, by object id), inserted in id order, a few hundred per
    statement; returns the ids inserted. A racing evaluator's insert of the same meeting wins (ON CONFLICT DO
    NOTHING): the caller evaluates those under the row's lock. A row's missing times are `now`."""
    dialect = session.get_bind().dialect.name
    inserted: set[str] = set()
    ids = sorted(rows)
    for start in range(0, len(ids), 500):
        values = [
            {
                "object_id": object_id,
                "project_id": project_id,
                **rows[object_id],
                "start_time": rows[object_id]["start_time"] or now,
                "end_time": rows[object_id]["end_time"] or now,
                "created_at": now,
                "updated_at": now,
            }
            for object_id in ids[start : start + 500]
        ]
        insert = postgresql.insert(Meeting) if dialect == "postgresql" else sqlite.insert(Meeting)
        statement = insert.on_conflict_do_nothing(index_elements=["object_id"]).returning(Meeting.object_id)
        # Parameters beside the statement, not `.values(rows)`: one cached statement sent in batches, instead of
        # compiling a new statement of thousands of parameters per chunk (docs/benchmarks.md §12c).
        inserted.update((await session.execute(statement, values)).scalars())
    return inserted
