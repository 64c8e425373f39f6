"""The transactions of one incremental sync: a listing with changes and a healthy channel records its success in the
transaction of its last page (the lease released, the cursor stored), and reads no channel again; a sync that has
channel upkeep to do after the listing, or nothing to write, records its success in a transaction of its own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import select, update

from calsync.context import AppContext
from calsync.store.models import Calendar, PushChannel
from calsync_emulator.client import EmulatorControl
from tests.support.service import Tenant
from tests.sync.conftest import calendar_row, connect_calendar, list_events, sync_once

T = TypeVar("T")
PLATFORMS = ["google", "microsoft"]


class Transactions:
    """The `what` of every retried read and write transaction, in order (the claim's left out)."""

    def __init__(self, context: AppContext, monkeypatch: pytest.MonkeyPatch) -> None:
        self.writes: list[str] = []
        self.reads: list[str] = []
        db = context.db
        write, read = db.write_retrying, db.read_retrying

        async def counted_write(body: Callable[[Any], Awaitable[T]], *, what: str, **kwargs: Any) -> T:
            self.writes.append(what)
            return await write(body, what=what, **kwargs)

        async def counted_read(body: Callable[[Any], Awaitable[T]], *, what: str) -> T:
            self.reads.append(what)
            return await read(body, what=what)

        monkeypatch.setattr(db, "write_retrying", counted_write)
        monkeypatch.setattr(db, "read_retrying", counted_read)

    def clear(self) -> None:
        self.writes.clear()
        self.reads.clear()

    def sync_writes(self) -> list[str]:
        # The push receiver (the app in this process) writes beside the sync: its notifications are not counted.
        return [what for what in self.writes if "claim" not in what and "due" not in what and "push" not in what]


async def _connected(control: EmulatorControl, tenant: Tenant, context: AppContext, platform: str) -> tuple[Any, ...]:
    account = await control.create_account(platform)
    calendar_id = account["primary_calendar_id"]
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    events = [
        await control.create_event(calendar_id, base + timedelta(hours=i), base + timedelta(hours=i, minutes=30))
        for i in range(3)
    ]
    created = await connect_calendar(tenant, account)
    await sync_once(context, created["id"])
    row = await calendar_row(context, created["id"])
    assert row.last_successful_sync_at is not None and row.push_state == "active", row.push_error
    return calendar_id, events, created["id"]


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_change_is_written_and_recorded_in_one_transaction(
    platform: str,
    control: EmulatorControl,
    context: AppContext,
    tenant: Tenant,
    api_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calendar_id, events, object_id = await _connected(control, tenant, context, platform)
    before = await calendar_row(context, object_id)
    counted = Transactions(context, monkeypatch)
    await control.update_event(calendar_id, events[1]["id"], summary="Renamed")
    result = await sync_once(context, object_id)
    assert result.mode == "incremental" and result.error is None and result.recorded
    assert counted.sync_writes() == ["apply_page"]
    assert "channels_of" not in counted.reads
    after = await calendar_row(context, object_id)
    assert after.lease_owner is None and after.lease_expires_at is None
    assert after.last_successful_sync_at > before.last_successful_sync_at
    assert after.sync_cursor and after.sync_cursor != before.sync_cursor
    # Due at its next check, or sooner: the change's own notification may arrive while the sync runs.
    assert after.sync_due_at is not None
    assert after.consecutive_failures == 0 and after.last_sync_error is None
    assert "Renamed" in {event["name"] for event in await list_events(tenant, object_id)}

    # The next sync lists from the stored cursor: nothing new, so nothing to write but its success.
    counted.clear()
    result = await sync_once(context, object_id)
    assert result.changes.count == 0 and not result.recorded
    assert counted.sync_writes() == ["record_success"]
    assert (await calendar_row(context, object_id)).lease_owner is None


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_channel_upkeep_after_the_listing_keeps_its_own_record(
    platform: str,
    control: EmulatorControl,
    context: AppContext,
    tenant: Tenant,
    api_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calendar_id, events, object_id = await _connected(control, tenant, context, platform)
    calendar = await calendar_row(context, object_id)
    soon = context.clock() + timedelta(hours=12)  # inside the renewal margin, still notifying
    async with context.db.write() as session:
        await session.execute(update(PushChannel).where(PushChannel.calendar_id == calendar.id).values(expires_at=soon))
    counted = Transactions(context, monkeypatch)
    await control.update_event(calendar_id, events[0]["id"], summary="Renamed")
    result = await sync_once(context, object_id)
    assert result.error is None and not result.recorded
    writes = counted.sync_writes()
    assert writes[0] == "apply_page" and writes[-1] == "record_success", writes
    assert "record_channels" in writes
    async with context.db.read() as session:
        expiries = (
            await session.execute(select(PushChannel.expires_at).where(PushChannel.calendar_id == calendar.id))
        ).scalars()
        assert max(expiries) > soon
    after = await calendar_row(context, object_id)
    assert after.lease_owner is None and after.last_successful_sync_at > calendar.last_successful_sync_at
    assert isinstance(after, Calendar)


async def test_a_reconnecting_sync_announces_in_a_transaction_of_its_own(
    control: EmulatorControl, context: AppContext, tenant: Tenant, api_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calendar_id, events, object_id = await _connected(control, tenant, context, "google")
    async with context.db.write() as session:
        await session.execute(update(Calendar).where(Calendar.object_id == object_id).values(state="disconnected"))
    counted = Transactions(context, monkeypatch)
    await control.update_event(calendar_id, events[2]["id"], summary="Renamed")
    result = await sync_once(context, object_id)
    # Connecting tells the features, whose locks come before the change clock: not under the page's clock.
    assert result.error is None and not result.recorded
    assert counted.sync_writes() == ["apply_page", "record_success"]
    after = await calendar_row(context, object_id)
    assert after.state == "connected" and after.lease_owner is None
