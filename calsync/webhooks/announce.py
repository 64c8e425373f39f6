"""Turns sync results and calendar state changes into customer webhooks, in the transaction that makes them."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from calsync.store.models import Calendar
from calsync.sync.changes import AppliedChanges
from calsync.webhooks import payloads
from calsync.webhooks.outbox import enqueue_calendar_webhook


def _snapshot(calendar: Calendar) -> payloads.CalendarSnapshot:
    return payloads.CalendarSnapshot(
        state=calendar.state,
        connection_failure_data=calendar.connection_failure_data,
        last_successful_sync_at=calendar.last_successful_sync_at,
        last_attempted_sync_at=calendar.last_attempted_sync_at,
    )


async def announce_event_changes(
    session: AsyncSession, calendar: Calendar, changes: AppliedChanges, now: datetime
) -> int:
    if not changes:
        return 0
    # The sync writing these changes is the one that produced them: its time is the payload's
    # last_successful_sync_at, not the previous sync's (still on the row until this sync finishes).
    snapshot = dataclasses.replace(_snapshot(calendar), last_successful_sync_at=now, last_attempted_sync_at=now)
    data = payloads.events_update_data(
        snapshot,
        payloads.EventChanges(created=changes.created, updated=changes.updated, deleted=changes.deleted),
    )
    return await enqueue_calendar_webhook(
        session, calendar=calendar, trigger=payloads.EVENTS_UPDATE, data=data, now=now
    )


async def announce_state_change(session: AsyncSession, calendar: Calendar, previous_state: str, now: datetime) -> int:
    data = payloads.state_change_data(_snapshot(calendar), previous_state)
    return await enqueue_calendar_webhook(session, calendar=calendar, trigger=payloads.STATE_CHANGE, data=data, now=now)
