"""The engine follows the checks-by-need policy (calsync.sync.schedule), end to end against the emulator on both
databases with an injectable clock: an idle calendar's next check is hours away, a calendar with a meeting soon is
checked in the window before its dispatch with a freshly refreshed token, and tokens are reused while valid
otherwise. The policy over a whole day and many calendars is tests/sync/test_quota_budget.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from calsync.context import AppContext
from calsync.sync import schedule
from calsync_emulator.client import EmulatorControl
from tests.support.service import Tenant
from tests.sync.conftest import calendar_row, connect_calendar, sync_once

MEET = "https://meet.google.com/abc-defg-hij"


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def fake_clock(context: AppContext) -> FakeClock:
    # Starts at the real time: the emulator dates its access tokens by it.
    clock = FakeClock(datetime.now(UTC))
    context.clock = clock
    return clock


async def connected(
    control: EmulatorControl, context: AppContext, tenant: Tenant, *, meeting_in: timedelta | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    account = await control.create_account("google")
    start = context.clock() + timedelta(days=2)
    await control.create_event(account["primary_calendar_id"], start, start + timedelta(minutes=30), summary="plain")
    if meeting_in is not None:
        start = (context.clock() + meeting_in).replace(microsecond=0)
        await control.create_event(
            account["primary_calendar_id"], start, start + timedelta(minutes=30), summary="call", meeting_url=MEET
        )
    created = await connect_calendar(tenant, account)
    result = await sync_once(context, created["id"])
    assert result.error is None
    return account, created


async def test_an_idle_calendar_is_next_checked_hours_later_with_its_token_reused_meanwhile(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    clock = fake_clock(context)
    _account, created = await connected(control, context, tenant)
    row = await calendar_row(context, created["id"])
    interval = timedelta(seconds=context.settings.push_safety_net_seconds)
    assert row.push_state == "active" and row.sync_reason == schedule.SAFETY_NET
    assert clock.now + interval / 2 < row.sync_due_at <= clock.now + interval
    assert row.sync_due_at == schedule.periodic_check(clock.now, row.object_id, interval)
    assert row.meeting_check_opens_at is None
    refreshed = row.access_token_refreshed_at
    assert refreshed == clock.now

    # A push twenty minutes later: the token is still valid, so no refresh.
    clock.now += timedelta(minutes=20)
    assert (await sync_once(context, created["id"])).error is None
    row = await calendar_row(context, created["id"])
    assert row.access_token_refreshed_at == refreshed
    assert clock.now + interval / 2 < row.sync_due_at <= clock.now + interval


async def test_a_meeting_soon_is_checked_before_its_dispatch_with_a_fresh_token(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    clock = fake_clock(context)
    _account, created = await connected(control, context, tenant, meeting_in=timedelta(minutes=50))
    row = await calendar_row(context, created["id"])
    [meeting] = [event for event in await _events(context, created["id"]) if event.meeting_url]
    window = schedule.meeting_window(meeting.start_time, context.settings)
    assert row.sync_reason == schedule.MEETING_CHECK
    assert window.opens <= row.sync_due_at <= window.closes
    assert row.meeting_check_opens_at == window.opens
    refreshed = row.access_token_refreshed_at

    # A push before the window reuses the token; the check inside it refreshes one still valid (it was obtained
    # before the window opened) and then looks past this meeting.
    clock.now = window.opens - timedelta(minutes=5)
    assert (await sync_once(context, created["id"])).error is None
    assert (await calendar_row(context, created["id"])).access_token_refreshed_at == refreshed
    clock.now = row.sync_due_at
    assert (await sync_once(context, created["id"])).error is None
    row = await calendar_row(context, created["id"])
    assert row.access_token_refreshed_at == clock.now
    assert row.sync_reason == schedule.SAFETY_NET and row.meeting_check_opens_at is None
    assert row.sync_due_at > clock.now + timedelta(seconds=context.settings.push_safety_net_seconds) / 2


async def test_a_grant_revoked_before_the_window_disconnects_at_the_meeting_check(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    clock = fake_clock(context)
    account, created = await connected(control, context, tenant, meeting_in=timedelta(minutes=40))
    row = await calendar_row(context, created["id"])
    # The worst case: the platform keeps honouring the access tokens it issued before the revocation.
    await control.revoke_grant(account["id"], keep_access_tokens=True)
    clock.now = row.sync_due_at
    result = await sync_once(context, created["id"])
    assert result.error is not None
    row = await calendar_row(context, created["id"])
    assert row.state == "disconnected" and row.connection_failure_data["code"] == "grant_revoked"


async def _events(context: AppContext, calendar_object_id: str) -> list[Any]:
    from sqlalchemy import select

    from calsync.store.models import Calendar, CalendarEvent

    async with context.db.read() as session:
        statement = select(CalendarEvent).join(Calendar).where(Calendar.object_id == calendar_object_id)
        return list((await session.execute(statement)).scalars().all())
