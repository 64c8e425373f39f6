"""Bot rules in the store: create, read, list, change, delete, each change queueing the re-evaluation of the
meetings in the window (calsync.meetings.queue), and the rule object of the API with its progress."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.ids import new_id
from calsync.meetings import queue
from calsync.store.keyset import Keyset, KeysetPage, SeekKey, fetch_keyset_page
from calsync.store.models import BotRule, Calendar
from calsync.webhooks.payloads import format_timestamp as iso

RULE_ID_PREFIX = "rul_"
ORDERING = "created_at"
# Columns that change nothing any meeting: a change of only these queues no re-evaluation.
COSMETIC_FIELDS = frozenset({"name"})
_COLUMN = {"metadata": "metadata_"}


def column(field: str) -> str:
    return _COLUMN.get(field, field)


async def unknown_calendars(session: AsyncSession, project_id: int, object_ids: Sequence[str]) -> list[str]:
    """The ids of `object_ids` that are not calendars of the project."""
    if not object_ids:
        return []
    rows = await session.execute(
        select(Calendar.object_id).where(
            Calendar.project_id == project_id, Calendar.object_id.in_(list(object_ids)), Calendar.deleted_at.is_(None)
        )
    )
    known = set(rows.scalars())
    return [object_id for object_id in object_ids if object_id not in known]


def new_rule(project_id: int, values: dict[str, Any], now: datetime) -> BotRule:
    rule = BotRule(object_id=new_id(RULE_ID_PREFIX), project_id=project_id, created_at=now, updated_at=now)
    for field, value in values.items():
        setattr(rule, column(field), value)
    rule.evaluation_total = 0
    return rule


async def reevaluate(session: AsyncSession, rule: BotRule, now: datetime) -> None:
    """Queue every meeting of the window (those that have not ended) for re-evaluation, tagged with this rule."""
    rule.evaluation_total = await queue.enqueue_window(session, rule.project_id, rule.object_id, now)
    rule.evaluation_started_at = now


async def get_rule(session: AsyncSession, project_id: int, object_id: str, *, lock: bool = False) -> BotRule | None:
    statement = select(BotRule).where(BotRule.project_id == project_id, BotRule.object_id == object_id)
    if lock:
        statement = statement.with_for_update(key_share=True)
    return (await session.execute(statement)).scalar_one_or_none()


async def list_rules(
    session: AsyncSession, project_id: int, *, after: SeekKey | None, backwards: bool, limit: int
) -> KeysetPage[BotRule]:
    statement = select(BotRule).where(BotRule.project_id == project_id)
    keyset = Keyset(BotRule.created_at, BotRule.id, descending=False, after=after, backwards=backwards, limit=limit)
    return await fetch_keyset_page(session, statement, keyset)


async def rule_json(session: AsyncSession, rule: BotRule, *, deleted: bool = False) -> dict[str, Any]:
    left = 0 if deleted else await queue.remaining(session, rule.object_id)
    return {
        "id": rule.object_id,
        "name": rule.name,
        "is_active": rule.is_active,
        "priority": rule.priority,
        "calendar_ids": rule.calendar_ids,
        "calendar_metadata": rule.calendar_metadata,
        "event_selection": rule.event_selection,
        "participants_gte": rule.participants_gte,
        "participants_lte": rule.participants_lte,
        "response": rule.response,
        "exclude_all_day": rule.exclude_all_day,
        "title_include": rule.title_include,
        "title_exclude": rule.title_exclude,
        "bot_name": rule.bot_name,
        "metadata": rule.metadata_,
        "join_offset_seconds": rule.join_offset_seconds,
        "dispatch_lead_seconds": rule.dispatch_lead_seconds,
        "evaluation": {
            "state": "running" if left else "done",
            "meetings_total": rule.evaluation_total,
            "meetings_done": max(0, rule.evaluation_total - left),
        },
        "created_at": iso(rule.created_at),
        "updated_at": iso(rule.updated_at),
    }
