"""Push channels (Google watch channels, Graph subscriptions): opened after a successful sync when a public
URL is configured, renewed well before they expire, replaced without gaps, and stopped on the platform when
no longer wanted. Push is an accelerator only: any failure here is recorded on the calendar (`push_state`,
`push_error`) and polling carries on."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.providers import base
from calsync.providers.base import CalendarProvider, ErrorKind, ProviderError
from calsync.providers.registry import PUSH_PLATFORMS
from calsync.settings import Settings
from calsync.store.models import Calendar, PushChannel

log = structlog.get_logger(__name__)

GOOGLE_PATH = "/external_webhooks/google_calendar"
MICROSOFT_PATH = "/external_webhooks/microsoft_calendar"
MICROSOFT_LIFECYCLE_PATH = "/external_webhooks/microsoft_calendar/lifecycle"
# Requested lifetimes (both platforms cap near 7 days for calendars) and when to renew.
CHANNEL_LIFETIME = timedelta(days=3)
RENEW_BEFORE = timedelta(days=1)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def addresses(settings: Settings, platform: str) -> tuple[str, str | None] | None:
    """Where the platform should notify, or None: no public URL, or a platform without push (never asked)."""
    if not settings.public_url or platform not in PUSH_PLATFORMS:
        return None
    root = settings.public_url.rstrip("/")
    if platform == "google":
        return root + GOOGLE_PATH, None
    return root + MICROSOFT_PATH, root + MICROSOFT_LIFECYCLE_PATH


def as_provider_channel(row: PushChannel) -> base.PushChannel:
    return base.PushChannel(id=row.channel_id, resource_id=row.resource_id, expires_at=row.expires_at, token="")


async def channels_of(session: AsyncSession, calendar_id: int) -> list[PushChannel]:
    return (await channels_of_many(session, [calendar_id])).get(calendar_id, [])


async def channels_of_many(session: AsyncSession, calendar_ids: Sequence[int]) -> dict[int, list[PushChannel]]:
    """The channels of each calendar, the latest expiry first."""
    rows = await session.execute(
        select(PushChannel)
        .where(PushChannel.calendar_id.in_(calendar_ids))
        .order_by(PushChannel.calendar_id, PushChannel.expires_at.desc())
    )
    out: dict[int, list[PushChannel]] = {}
    for row in rows.scalars():
        out.setdefault(row.calendar_id, []).append(row)
    return out


class ChannelPlan:
    """What to do for a calendar's channels, decided from the rows alone (no network)."""

    def __init__(self, rows: list[PushChannel], now: datetime) -> None:
        fresh = [row for row in rows if row.status == "active" and row.expires_at > now + RENEW_BEFORE]
        self.keep = fresh[0] if fresh else None
        expiring = [row for row in rows if row.status == "active" and row is not self.keep and row.expires_at > now]
        self.renew = expiring[0] if self.keep is None and expiring else None
        self.stop = [row for row in rows if row is not self.keep and row is not self.renew]


async def is_recorded(session: AsyncSession, channel_id: str) -> bool:
    found = await session.execute(select(PushChannel.id).where(PushChannel.channel_id == channel_id).limit(1))
    return found.first() is not None


def new_channel_token() -> str:
    return secrets.token_urlsafe(32)


async def stop_remote(provider: CalendarProvider, access_token: str, rows: list[PushChannel]) -> list[int]:
    """Stop channels on the platform; returns the ids of rows that may now be forgotten."""
    done: list[int] = []
    for row in rows:
        try:
            await provider.close_channel(access_token, as_provider_channel(row))
            done.append(row.id)
        except ProviderError as exc:
            if exc.kind in (ErrorKind.NOT_FOUND, ErrorKind.GRANT_REVOKED, ErrorKind.APP_CREDENTIALS):
                done.append(row.id)  # gone already, or we can never stop it: it will expire on its own
            else:
                log.warning("channel_stop_failed", channel=row.channel_id, kind=exc.kind.value)
    return done


async def forget(session: AsyncSession, ids: list[int]) -> None:
    if ids:
        await session.execute(delete(PushChannel).where(PushChannel.id.in_(ids)))


def record_channel(calendar: Calendar, channel: base.PushChannel, now: datetime) -> PushChannel:
    return PushChannel(
        calendar_id=calendar.id,
        platform=calendar.platform,
        channel_id=channel.id,
        resource_id=channel.resource_id,
        token_hash=token_digest(channel.token),
        expires_at=channel.expires_at,
        created_at=now,
        status="active",
    )
