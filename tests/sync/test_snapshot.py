"""What a sync starts from, read by its claim's transaction: the calendars this worker leases, each with its OAuth
client's throttle (only while it lasts) and its push channels, the latest expiry first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.clock import FrozenClock
from calsync.context import AppContext
from calsync.providers.base import CalendarProvider, Credentials, TokenGrant
from calsync.store.models import Calendar, OAuthClientThrottle, PushChannel
from calsync.store.queries.calendars import NewCalendar, create_calendar
from calsync.store.queries.projects import create_project
from calsync.sync.fence import Fence, LeaseLost
from calsync.sync.snapshot import CalendarSnapshot, access_token, read_snapshot, read_snapshots
from calsync.worker.claims import claim_due_calendars

LEASE = 120.0


@pytest.fixture
def clock(context: AppContext) -> FrozenClock:
    context.clock = FrozenClock(datetime(2026, 5, 1, 9, 0, tzinfo=UTC))
    return context.clock


async def _calendars(context: AppContext, clients: list[str]) -> list[int]:
    """One due calendar per OAuth client named, each with its own refresh token."""
    now = context.clock()
    async with context.db.write() as session:
        project = await create_project(session, "snapshot", now)
        ids = []
        for index, client in enumerate(clients):
            secret = context.secrets.encrypt_json({"client_secret": "s", "refresh_token": f"refresh-{index}"})
            calendar = await create_calendar(
                session, project.id, NewCalendar("google", client, secret, None, f"key-{index}", None), now
            )
            calendar.sync_due_at = now
            await session.flush()
            ids.append(calendar.id)
        return ids


def _channel(calendar_id: int, name: str, expires_at: datetime) -> PushChannel:
    return PushChannel(
        calendar_id=calendar_id,
        platform="google",
        channel_id=name,
        resource_id=None,
        token_hash="0" * 64,
        expires_at=expires_at,
        created_at=expires_at - timedelta(days=3),
        status="active",
    )


async def test_a_claim_reads_the_snapshots_of_what_it_leased(context: AppContext, clock: FrozenClock) -> None:
    now = clock()
    first, second, third = await _calendars(context, ["throttled", "free", "throttle-over"])
    async with context.db.write() as session:
        session.add_all(
            [
                _channel(first, "old", now + timedelta(days=1)),
                _channel(first, "new", now + timedelta(days=3)),
                OAuthClientThrottle(
                    platform="google", client_id="throttled", throttled_until=now + timedelta(minutes=5)
                ),
                OAuthClientThrottle(platform="google", client_id="throttle-over", throttled_until=now),
            ]
        )

    async def reader(session: AsyncSession, ids: list[int]) -> dict[int, CalendarSnapshot]:
        return await read_snapshots(context, session, ids, "w1")

    claims = await claim_due_calendars(context.db, "w1", now, limit=10, lease_seconds=LEASE, read_snapshots=reader)
    snaps = {claim.calendar_id: claim.snapshot for claim in claims}
    assert set(snaps) == {first, second, third}
    assert all(snap is not None and snap.id == calendar_id for calendar_id, snap in snaps.items())
    one, two, three = snaps[first], snaps[second], snaps[third]
    assert one is not None and two is not None and three is not None
    assert [channel.channel_id for channel in one.channels or []] == ["new", "old"]
    assert two.channels == [] and three.channels == []
    assert one.throttled_until == now + timedelta(minutes=5)
    assert two.throttled_until is None and three.throttled_until is None
    assert [snap.credentials.refresh_token for snap in (one, two, three)] == ["refresh-0", "refresh-1", "refresh-2"]


async def test_only_the_calendars_this_worker_leases(context: AppContext, clock: FrozenClock) -> None:
    mine, theirs = await _calendars(context, ["a", "b"])
    await claim_due_calendars(context.db, "w1", clock(), limit=10, lease_seconds=LEASE)
    async with context.db.write() as session:
        await session.execute(update(Calendar).where(Calendar.id == theirs).values(lease_owner="w2"))
    async with context.db.read() as session:
        assert set(await read_snapshots(context, session, [mine, theirs], "w1")) == {mine}
    assert (await read_snapshot(context, mine, "w1")).id == mine
    with pytest.raises(LeaseLost):
        await read_snapshot(context, theirs, "w1")


class _RotatingProvider:
    """Refreshes with a rotated refresh token, as Microsoft does."""

    def __init__(self, refresh_token: str, expires_at: datetime) -> None:
        self.grant = TokenGrant("access-new", expires_at, refresh_token)

    async def refresh_access_token(self, credentials: Credentials) -> TokenGrant:
        return self.grant


async def _stored_secrets(context: AppContext, calendar_id: int) -> dict[str, object]:
    async with context.db.read() as session:
        calendar = await session.get(Calendar, calendar_id)
        assert calendar is not None
        return context.secrets.decrypt_json(calendar.encrypted_credentials)


async def test_a_rotated_refresh_token_is_stored_at_once(context: AppContext, clock: FrozenClock) -> None:
    (calendar_id,) = await _calendars(context, ["a"])
    await claim_due_calendars(context.db, "w1", clock(), limit=10, lease_seconds=LEASE)
    snap = await read_snapshot(context, calendar_id, "w1")
    provider = _RotatingProvider("refresh-rotated", clock() + timedelta(hours=1))
    fence = Fence(context, "w1")
    assert await access_token(fence, snap, cast(CalendarProvider, provider)) == "access-new"
    assert await _stored_secrets(context, calendar_id) == {"client_secret": "s", "refresh_token": "refresh-rotated"}
    assert snap.credentials.refresh_token == "refresh-rotated"
    async with context.db.read() as session:
        calendar = await session.get(Calendar, calendar_id)
        assert calendar is not None and calendar.access_token_expires_at == clock() + timedelta(hours=1)
        assert calendar.encrypted_credentials == snap.encrypted_credentials


async def test_a_rotated_refresh_token_keeps_credentials_stored_since_the_snapshot(
    context: AppContext, clock: FrozenClock
) -> None:
    """A calendar reconnected while its sync refreshed (new client secret): the rotated token is stored over the
    credentials as they are now, not over those the snapshot read."""
    (calendar_id,) = await _calendars(context, ["a"])
    await claim_due_calendars(context.db, "w1", clock(), limit=10, lease_seconds=LEASE)
    snap = await read_snapshot(context, calendar_id, "w1")
    reconnected = context.secrets.encrypt_json({"client_secret": "s2", "refresh_token": "refresh-reconnected"})
    async with context.db.write() as session:
        await session.execute(
            update(Calendar).where(Calendar.id == calendar_id).values(encrypted_credentials=reconnected)
        )
    provider = _RotatingProvider("refresh-rotated", clock() + timedelta(hours=1))
    await access_token(Fence(context, "w1"), snap, cast(CalendarProvider, provider))
    assert await _stored_secrets(context, calendar_id) == {"client_secret": "s2", "refresh_token": "refresh-rotated"}


async def test_a_rotated_refresh_token_is_not_stored_once_the_lease_is_lost(
    context: AppContext, clock: FrozenClock
) -> None:
    (calendar_id,) = await _calendars(context, ["a"])
    await claim_due_calendars(context.db, "w1", clock(), limit=10, lease_seconds=LEASE)
    snap = await read_snapshot(context, calendar_id, "w1")
    async with context.db.write() as session:
        await session.execute(update(Calendar).where(Calendar.id == calendar_id).values(lease_owner="w2"))
    provider = _RotatingProvider("refresh-rotated", clock() + timedelta(hours=1))
    with pytest.raises(LeaseLost):
        await access_token(Fence(context, "w1"), snap, cast(CalendarProvider, provider))
    assert await _stored_secrets(context, calendar_id) == {"client_secret": "s", "refresh_token": "refresh-0"}
