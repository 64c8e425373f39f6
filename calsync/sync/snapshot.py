"""What a sync knows of its calendar, read once at its start, and the access token it calls the platform with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.context import AppContext
from calsync.providers.base import CalendarProvider, Credentials, TokenGrant
from calsync.store.models import Calendar, PushChannel
from calsync.sync import metrics
from calsync.sync.channels import channels_of_many
from calsync.sync.fence import Fence, LeaseLost
from calsync.sync.throttle import read_throttles
from calsync.sync.tokens import cached_access_token, grant_values, store_grant, stored_credentials


@dataclass
class CalendarSnapshot:
    id: int
    object_id: str
    project_id: int
    platform: str
    platform_uuid: str | None
    client_id: str
    credentials: Credentials
    # As stored when the snapshot was read: a rotated refresh token is stored over it if it is still the same.
    encrypted_credentials: bytes
    cursor: str | None
    state: str
    next_full_sync_at: datetime | None
    access_token: str | None
    deleted: bool = False
    account_key: str = ""
    owner_email: str | None = None
    channels_maintained: bool = False  # this sync already opened, renewed or stopped channels (or tried to)
    # Read with the calendar, in the same transaction: the OAuth client's throttle and the push channels as the sync
    # began (one read before the platform call instead of three: each is a round trip on a push's critical path).
    throttled_until: datetime | None = None
    channels: list[PushChannel] | None = None
    # A grant refreshed by this sync and not yet stored, with the time of the refresh (`keep_pending_grant`).
    pending_grant: tuple[TokenGrant, datetime] | None = None


async def read_snapshot(context: AppContext, calendar_id: int, worker_id: str) -> CalendarSnapshot:
    """The snapshot of one leased calendar, in a read transaction of its own."""

    async def read(session: AsyncSession) -> dict[int, CalendarSnapshot]:
        return await read_snapshots(context, session, [calendar_id], worker_id)

    snap = (await context.db.read_retrying(read, what="sync_snapshot")).get(calendar_id)
    if snap is None:
        raise LeaseLost
    return snap


async def read_snapshots(
    context: AppContext, session: AsyncSession, calendar_ids: Sequence[int], worker_id: str
) -> dict[int, CalendarSnapshot]:
    """The snapshots of the calendars this worker leases among `calendar_ids`, in the caller's transaction (the
    claim's, so that a push's sync makes no transaction of its own before the platform call): their rows, their
    OAuth clients' throttles and their push channels, three statements whatever their number."""
    now = context.clock()
    calendars = [
        calendar
        for calendar in (await session.execute(select(Calendar).where(Calendar.id.in_(calendar_ids)))).scalars()
        if calendar.lease_owner == worker_id
    ]
    if not calendars:
        return {}
    throttles = await read_throttles(session, {(c.platform, c.client_id) for c in calendars}, now)
    channels = await channels_of_many(session, [c.id for c in calendars])
    return {
        calendar.id: _snapshot(
            context, calendar, throttles.get((calendar.platform, calendar.client_id)), channels.get(calendar.id, [])
        )
        for calendar in calendars
    }


def _snapshot(
    context: AppContext, calendar: Calendar, throttled: datetime | None, channel_rows: list[PushChannel]
) -> CalendarSnapshot:
    return CalendarSnapshot(
        id=calendar.id,
        object_id=calendar.object_id,
        project_id=calendar.project_id,
        platform=calendar.platform,
        platform_uuid=calendar.platform_uuid,
        client_id=calendar.client_id,
        credentials=stored_credentials(context.secrets, calendar),
        encrypted_credentials=calendar.encrypted_credentials,
        cursor=calendar.sync_cursor,
        state=calendar.state,
        next_full_sync_at=calendar.next_full_sync_at,
        # The margin is applied here, so a token read now is good for the whole sync.
        access_token=cached_access_token(context.secrets, calendar, context.clock()),
        deleted=calendar.deleted_at is not None,
        account_key=calendar.account_key,
        owner_email=calendar.owner_email,
        throttled_until=throttled,
        channels=channel_rows,
    )


async def access_token(fence: Fence, snap: CalendarSnapshot, provider: CalendarProvider) -> str:
    """The snapshot's token, or a new one (stored for every worker, with Microsoft's rotated refresh token)."""
    if snap.access_token:
        return snap.access_token
    grant = await provider.refresh_access_token(snap.credentials)
    metrics.TOKEN_REFRESHES.labels(snap.platform).inc()
    secrets = fence.context.secrets
    refreshed_at = fence.context.clock()
    if grant.refresh_token:
        # A rotated refresh token (Microsoft) is stored at once: it is the calendar's only credential from now on.
        # One statement when the stored credentials are still those the snapshot read (they are, unless the
        # calendar was reconnected meanwhile); else from the row as it is now.
        values = grant_values(secrets, snap.encrypted_credentials, grant, refreshed_at)
        unchanged = {"encrypted_credentials": snap.encrypted_credentials}
        if not await fence.set_if(snap.id, values, unchanged, "store_grant"):

            async def store(_session: AsyncSession, calendar: Calendar) -> None:
                store_grant(secrets, calendar, grant, refreshed_at)

            await fence.write(snap.id, store, "store_grant")
        snap.encrypted_credentials = values.get("encrypted_credentials", snap.encrypted_credentials)
    else:
        # An access token alone (Google) goes with the sync's next write, not in a transaction of its own: lost with
        # a sync that fails before writing, it costs the next sync one refresh.
        snap.pending_grant = (grant, refreshed_at)
    snap.access_token = grant.access_token
    if grant.refresh_token:
        snap.credentials = Credentials(snap.credentials.client_id, snap.credentials.client_secret, grant.refresh_token)
    return grant.access_token


def keep_pending_grant(context: AppContext, snap: CalendarSnapshot, calendar: Calendar) -> None:
    """Store the grant this sync refreshed and has not stored yet, in a write behind the fence (the caller forgets
    it once that write commits)."""
    if snap.pending_grant is not None:
        grant, refreshed_at = snap.pending_grant
        store_grant(context.secrets, calendar, grant, refreshed_at)
