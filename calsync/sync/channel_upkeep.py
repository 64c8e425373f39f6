"""A sync's push channel upkeep: open, renew, replace and stop the calendar's channels on the platform, and stop
them when the calendar is deleted (the platform calls come first, the record behind the fence after)."""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.context import AppContext
from calsync.providers import base
from calsync.providers.base import CalendarProvider, ErrorKind, ProviderError
from calsync.store.models import Calendar
from calsync.store.models import PushChannel as PushChannelRow
from calsync.store.queries.calendars import mark_due
from calsync.sync import channels
from calsync.sync.fence import Fence
from calsync.sync.snapshot import CalendarSnapshot, access_token

log = structlog.get_logger(__name__)


async def _channels_of(fence: Fence, calendar_id: int) -> list[PushChannelRow]:
    async def read(session: AsyncSession) -> list[PushChannelRow]:
        return await channels.channels_of(session, calendar_id)

    return await fence.context.db.read_retrying(read, what="channels_of")


def upkeep_due(context: AppContext, snap: CalendarSnapshot, now: datetime) -> bool:
    """Whether `maintain_channels` after this sync's listing would act (open, renew or stop a channel)."""
    if snap.channels_maintained or channels.addresses(context.settings, snap.platform) is None:
        return False
    if snap.channels is None:
        return True
    plan = channels.ChannelPlan(snap.channels, now)
    return plan.keep is None or bool(plan.stop)


async def maintain_channels(
    fence: Fence, snap: CalendarSnapshot, provider: CalendarProvider, *, new_only: bool = False
) -> None:
    """Open, renew, replace and stop the calendar's push channels as `channels.ChannelPlan` says. With
    `new_only`, act only when no channel notifies at all (nothing to keep or renew)."""
    context = fence.context
    where = channels.addresses(context.settings, snap.platform)
    if where is None:
        return
    address, lifecycle_address = where
    now = context.clock()
    # The rows read with the snapshot serve until this sync changes them: another writer of a leased calendar's
    # channels (the push receiver bringing a renewal forward) also makes the calendar due, so a sync sees it.
    unchanged = None if snap.channels_maintained else snap.channels
    rows = unchanged if unchanged is not None else await _channels_of(fence, snap.id)
    plan = channels.ChannelPlan(rows, now)
    if new_only and (plan.keep is not None or plan.renew is not None):
        return
    if plan.keep is not None and not plan.stop:
        return
    snap.channels_maintained = True
    try:
        token = await access_token(fence, snap, provider)
        opened: base.PushChannel | None = None
        renewed: base.PushChannel | None = None
        to_stop = list(plan.stop)
        # Whether a channel notified until the new one exists (a Google replacement overlaps its predecessor).
        covered = new_only or plan.renew is not None
        if plan.keep is None and plan.renew is not None:
            try:
                renewed = await provider.renew_channel(
                    token, channels.as_provider_channel(plan.renew), now + channels.CHANNEL_LIFETIME
                )
            except ProviderError as exc:
                if exc.kind is not ErrorKind.NOT_FOUND:
                    raise
                covered = False  # the platform had dropped it: nothing notified for a while
            if renewed is None:
                to_stop.append(plan.renew)
        if plan.keep is None and renewed is None:
            opened = await provider.open_channel(
                token,
                snap.platform_uuid,
                address=address,
                lifecycle_address=lifecycle_address,
                token=channels.new_channel_token(),
                expires_at=now + channels.CHANNEL_LIFETIME,
            )
        stopped = await channels.stop_remote(provider, token, to_stop)

        async def record(session: AsyncSession, calendar: Calendar) -> None:
            # Not again when this transaction is re-run after a commit whose outcome was lost.
            if opened is not None and not await channels.is_recorded(session, opened.id):
                session.add(channels.record_channel(calendar, opened, now))
                if not covered:
                    # Opened after this sync's listing with no channel notifying before: one more
                    # incremental sync covers changes made in between.
                    mark_due(calendar, "channel_opened", context.clock())
            if renewed is not None and plan.renew is not None:
                row = await session.get(PushChannelRow, plan.renew.id)
                if row is not None:
                    row.expires_at = renewed.expires_at
            await channels.forget(session, stopped)
            calendar.push_state, calendar.push_error = "active", None

        await fence.write(snap.id, record, "record_channels")
    except ProviderError as exc:
        log.warning("push_channel_failed", calendar=snap.object_id, kind=exc.kind.value, message=exc.message)
        await fence.set(snap.id, {"push_state": "failing", "push_error": exc.message}, "record_channel_failure")


async def tear_down(fence: Fence, snap: CalendarSnapshot, provider: CalendarProvider) -> None:
    """A deleted calendar: stop its channels on the platform (best effort), then remove the row."""
    rows = await _channels_of(fence, snap.id)
    try:
        token = await access_token(fence, snap, provider)
        await channels.stop_remote(provider, token, rows)
    except ProviderError as exc:
        log.info("channel_stop_skipped", calendar=snap.object_id, kind=exc.kind.value)

    async def remove(session: AsyncSession, calendar: Calendar) -> None:
        await channels.forget(session, [row.id for row in rows])
        await session.delete(calendar)

    await fence.write(snap.id, remove, "tear_down")
