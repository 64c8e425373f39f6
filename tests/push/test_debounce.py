"""The push debounce's leading edge: a lone notification syncs at once, a burst during a sync costs one more. The
rule is SQL over the calendar's row (calsync.push.debounce), so it is checked on both databases against every
combination of the row's states."""

from __future__ import annotations

import itertools
from datetime import timedelta

from sqlalchemy import select, update

from calsync.context import AppContext
from calsync.push.debounce import PUSH_DUE_AT, times
from calsync.store.models import Calendar
from tests.api.seed import SEED_REQUEST
from tests.support.service import Tenant

DEBOUNCES = [timedelta(0), timedelta(seconds=1)]
# (lease owner, lease expiry relative to now; None: no expiry stored)
LEASES = [(None, None), ("worker-1", timedelta(seconds=60)), ("dead-worker", timedelta(seconds=-1)), ("w", None)]
# Since the last attempted sync: never, 300 ms, five minutes.
LAST = [None, timedelta(milliseconds=300), timedelta(minutes=5)]


async def test_due_time_is_now_after_a_quiet_spell_and_the_debounce_otherwise(
    context: AppContext, tenant: Tenant
) -> None:
    response = await tenant.client.post("/api/v1/calendars", json=SEED_REQUEST)
    assert response.status_code == 201, response.text
    calendar_id = response.json()["id"]
    now = context.clock()
    for debounce, (owner, lease_left), since_last in itertools.product(DEBOUNCES, LEASES, LAST):
        async with context.db.write() as session:
            await session.execute(
                update(Calendar)
                .where(Calendar.object_id == calendar_id)
                .values(
                    lease_owner=owner,
                    lease_expires_at=None if lease_left is None else now + lease_left,
                    last_attempted_sync_at=None if since_last is None else now - since_last,
                )
            )
        async with context.db.read() as session:
            statement = select(PUSH_DUE_AT).where(Calendar.object_id == calendar_id)
            due = (await session.execute(statement, times(now, debounce))).scalar_one()
        syncing = owner is not None and (lease_left is None or lease_left > timedelta(0))
        recent = since_last is not None and since_last < debounce
        expected = now + debounce if syncing or recent else now
        assert due == expected, (debounce, owner, lease_left, since_last)
