"""Syncing one calendar, start to finish, while holding its lease.

Every network call happens outside any database transaction; every write happens in a short transaction
that first checks this worker still holds the calendar's lease (a fence: a worker whose lease expired and
was taken over can no longer write)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.context import AppContext
from calsync.providers import base
from calsync.providers.base import (
    CalendarProvider,
    ChangePage,
    Credentials,
    ErrorKind,
    NormalizedEvent,
    ProviderError,
)
from calsync.store.models import Calendar, CalendarState
from calsync.store.models import PushChannel as PushChannelRow
from calsync.sync import channels, metrics
from calsync.sync.announce import announce_event_changes, announce_state_change
from calsync.sync.apply import live_event_ids_in_window, plan_page, write_page
from calsync.sync.batching import ChangeBatch
from calsync.sync.changes import AppliedChanges
from calsync.sync.limits import MICROSOFT_MAILBOX_CONCURRENCY, KeyedLimiter
from calsync.sync.throttle import record_throttle, throttled_until
from calsync.sync.tokens import cached_access_token, store_grant, stored_credentials
from calsync.sync.window import next_full_reconcile, retry_delay, sync_window

log = structlog.get_logger(__name__)

# With a healthy push channel the periodic fallback sync runs this often (it also renews channels).
PUSH_SAFETY_NET = timedelta(hours=6)
# After a full list, stored events the list did not return are checked one by one, up to this many.
MAX_INDIVIDUAL_CHECKS = 100


class LeaseLost(Exception):
    """Another worker owns this calendar now (or it was deleted): stop without writing."""


@dataclass
class CalendarSnapshot:
    id: int
    object_id: str
    project_id: int
    platform: str
    platform_uuid: str | None
    client_id: str
    credentials: Credentials
    cursor: str | None
    state: str
    next_full_sync_at: datetime | None
    access_token: str | None
    deleted: bool = False
    account_key: str = ""


@dataclass
class SyncResult:
    mode: str  # "full", "incremental", "reconcile", or "skipped"
    changes: AppliedChanges = field(default_factory=AppliedChanges)
    error: ProviderError | None = None


class CalendarSyncer:
    def __init__(
        self,
        context: AppContext,
        providers: Mapping[str, CalendarProvider],
        worker_id: str,
        rng: random.Random | None = None,
    ) -> None:
        self.context = context
        self.providers = providers
        self.worker_id = worker_id
        self.rng = rng or random.Random()
        self.mailboxes = KeyedLimiter(MICROSOFT_MAILBOX_CONCURRENCY)

    @property
    def _now(self) -> datetime:
        return self.context.clock()

    @asynccontextmanager
    async def _owned(self, calendar_id: int) -> AsyncIterator[tuple[AsyncSession, Calendar]]:
        async with self.context.db.write() as session:
            calendar = (
                await session.execute(select(Calendar).where(Calendar.id == calendar_id).with_for_update())
            ).scalar_one_or_none()
            if calendar is None or calendar.lease_owner != self.worker_id:
                raise LeaseLost
            # Each write extends the lease, so a long full sync keeps it while it makes progress.
            calendar.lease_expires_at = self._now + timedelta(seconds=self.context.settings.lease_seconds)
            yield session, calendar

    async def _snapshot(self, calendar_id: int) -> CalendarSnapshot:
        async with self.context.db.read() as session:
            calendar = await session.get(Calendar, calendar_id)
        if calendar is None or calendar.lease_owner != self.worker_id:
            raise LeaseLost
        return CalendarSnapshot(
            id=calendar.id,
            object_id=calendar.object_id,
            project_id=calendar.project_id,
            platform=calendar.platform,
            platform_uuid=calendar.platform_uuid,
            client_id=calendar.client_id,
            credentials=stored_credentials(self.context.secrets, calendar),
            cursor=calendar.sync_cursor,
            state=calendar.state,
            next_full_sync_at=calendar.next_full_sync_at,
            # The margin is applied here, so a token read now is good for the whole sync.
            access_token=cached_access_token(self.context.secrets, calendar, self._now),
            deleted=calendar.deleted_at is not None,
            account_key=calendar.account_key,
        )

    # -- access tokens -------------------------------------------------------------------------------------

    async def _access_token(self, snap: CalendarSnapshot, provider: CalendarProvider) -> str:
        if snap.access_token:
            return snap.access_token
        grant = await provider.refresh_access_token(snap.credentials)
        metrics.TOKEN_REFRESHES.labels(snap.platform).inc()
        async with self._owned(snap.id) as (_session, calendar):
            store_grant(self.context.secrets, calendar, grant)
        snap.access_token = grant.access_token
        if grant.refresh_token:
            snap.credentials = Credentials(
                snap.credentials.client_id, snap.credentials.client_secret, grant.refresh_token
            )
        return grant.access_token

    # -- the sync ------------------------------------------------------------------------------------------

    async def sync(self, calendar_id: int, claimed_due_at: datetime) -> SyncResult:
        snap = await self._snapshot(calendar_id)
        provider = self.providers[snap.platform]
        if snap.deleted:
            await self._tear_down(snap, provider)
            return SyncResult(mode="deleted")
        if snap.platform == "microsoft":
            async with self.mailboxes.hold(snap.account_key or snap.object_id):
                return await self._sync(snap, provider, claimed_due_at)
        return await self._sync(snap, provider, claimed_due_at)

    async def _sync(self, snap: CalendarSnapshot, provider: CalendarProvider, claimed_due_at: datetime) -> SyncResult:
        result = SyncResult(mode="incremental")
        wait_until = await throttled_until(self.context.db, snap.platform, snap.client_id, self._now)
        if wait_until is not None:
            await self._reschedule(snap, wait_until, claimed_due_at)
            return SyncResult(mode="skipped")
        try:
            try:
                await self._run(snap, provider, result)
            except ProviderError as exc:
                if exc.status != 401 or not snap.access_token:
                    raise
                # The access token was refused before its time: drop it and try once more with a fresh one.
                snap.access_token = None
                result.changes = AppliedChanges()
                await self._run(snap, provider, result)
        except ProviderError as exc:
            result.error = exc
            await self._record_failure(snap, exc, claimed_due_at)
            return result
        await self._maintain_channels(snap, provider)
        await self._record_success(snap, result, claimed_due_at)
        return result

    async def _run(self, snap: CalendarSnapshot, provider: CalendarProvider, result: SyncResult) -> None:
        token = await self._access_token(snap, provider)
        now = self._now
        due_for_reconcile = snap.next_full_sync_at is None or snap.next_full_sync_at <= now
        if snap.cursor and not due_for_reconcile:
            try:
                window_start, window_end = sync_window(now, self.context.settings)
                pages = provider.list_changes(
                    token, snap.platform_uuid, window_start=window_start, window_end=window_end, cursor=snap.cursor
                )
                cursor = await self._consume(snap, pages, result)
                await self._store_cursor(snap, cursor)
                return
            except ProviderError as exc:
                if exc.kind is not ErrorKind.SYNC_TOKEN_EXPIRED:
                    raise
                log.info("sync_token_expired", calendar=snap.object_id)
                metrics.SYNC_TOKEN_EXPIRED.labels(snap.platform).inc()
                due_for_reconcile = False
        # A scheduled re-base of a working cursor measures drift; a first sync or a dead cursor does not.
        result.mode = "reconcile" if snap.cursor and due_for_reconcile else "full"
        await self._full(snap, provider, token, result)

    async def _consume(
        self,
        snap: CalendarSnapshot,
        pages: AsyncIterator[ChangePage],
        result: SyncResult,
        seen: set[str] | None = None,
    ) -> str | None:
        """Write the pages (merged into batches) and return the listing's cursor; `seen` collects every id listed."""
        cursor: str | None = None
        batch = ChangeBatch()
        async for page in pages:
            if seen is not None:
                seen.update(event.platform_uuid for event in page.events)
                seen.update(page.removed_ids)
            batch.add(page.events, page.removed_ids)
            if batch.full:
                result.changes.extend(await self._apply(snap, *batch.take()))
            cursor = page.cursor or cursor
        result.changes.extend(await self._apply(snap, *batch.take()))
        return cursor

    async def _apply(
        self, snap: CalendarSnapshot, events: list[NormalizedEvent], removed_ids: list[str]
    ) -> AppliedChanges:
        if not events and not removed_ids:
            return AppliedChanges()
        async with self._owned(snap.id) as (session, calendar):
            plan = await plan_page(session, calendar, events, removed_ids)
            await announce_event_changes(session, calendar, plan.changes, self._now)
            # Last: the project's change clock is held from here to the commit.
            await write_page(session, calendar, plan, self._now)
        changes = plan.changes
        if changes:
            self.context.work_signal.kick()
        return changes

    async def _full(self, snap: CalendarSnapshot, provider: CalendarProvider, token: str, result: SyncResult) -> None:
        now = self._now
        window_start, window_end = sync_window(now, self.context.settings)
        seen: set[str] = set()
        pages = provider.list_changes(
            token, snap.platform_uuid, window_start=window_start, window_end=window_end, cursor=None
        )
        cursor = await self._consume(snap, pages, result, seen)
        # A full list carries no tombstones: stored events it did not return were deleted, or moved out of
        # the window. Ask for each (a few at most, normally) rather than guess.
        async with self.context.db.read() as session:
            missing = sorted(await live_event_ids_in_window(session, snap.id, window_start, window_end) - seen)
        found: list[NormalizedEvent] = []
        removed: list[str] = missing[MAX_INDIVIDUAL_CHECKS:]
        for uuid in missing[:MAX_INDIVIDUAL_CHECKS]:
            event = await provider.get_event(token, snap.platform_uuid, uuid)
            if event is None or event.is_deleted:
                removed.append(uuid)
            else:
                found.append(event)
        result.changes.extend(await self._apply(snap, found, removed))
        async with self._owned(snap.id) as (_session, calendar):
            calendar.sync_cursor = cursor
            calendar.window_start, calendar.window_end = window_start, window_end
            calendar.last_full_sync_at = now
            calendar.next_full_sync_at = next_full_reconcile(now, self.context.settings, self.rng)
            if result.mode == "reconcile":
                # Everything a scheduled reconcile changes is something incremental sync had missed.
                calendar.last_drift_count = result.changes.count
                metrics.DRIFT.labels(snap.platform).inc(result.changes.count)

    async def _store_cursor(self, snap: CalendarSnapshot, cursor: str | None) -> None:
        if cursor is None:
            return
        async with self._owned(snap.id) as (_session, calendar):
            calendar.sync_cursor = cursor

    # -- outcomes ------------------------------------------------------------------------------------------

    def _next_due(self, calendar: Calendar, claimed_due_at: datetime, proposed: datetime) -> datetime:
        """Keep an earlier due time set while we ran (a push notification or a PATCH arrived mid-sync)."""
        current = calendar.sync_due_at
        if current is not None and current < claimed_due_at:
            return min(current, proposed)
        return proposed

    def _release(self, calendar: Calendar) -> None:
        calendar.lease_owner = None
        calendar.lease_expires_at = None

    # -- push channels -------------------------------------------------------------------------------------

    async def _maintain_channels(self, snap: CalendarSnapshot, provider: CalendarProvider) -> None:
        where = channels.addresses(self.context.settings, snap.platform)
        if where is None:
            return
        address, lifecycle_address = where
        now = self._now
        async with self.context.db.read() as session:
            plan = channels.ChannelPlan(await channels.channels_of(session, snap.id), now)
        if plan.keep is not None and not plan.stop:
            return
        try:
            token = await self._access_token(snap, provider)
            opened: base.PushChannel | None = None
            renewed: base.PushChannel | None = None
            to_stop = list(plan.stop)
            if plan.keep is None and plan.renew is not None:
                try:
                    renewed = await provider.renew_channel(
                        token, channels.as_provider_channel(plan.renew), now + channels.CHANNEL_LIFETIME
                    )
                except ProviderError as exc:
                    if exc.kind is not ErrorKind.NOT_FOUND:
                        raise
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
            async with self._owned(snap.id) as (session, calendar):
                if opened is not None:
                    session.add(channels.record_channel(calendar, opened, now))
                if renewed is not None and plan.renew is not None:
                    row = await session.get(PushChannelRow, plan.renew.id)
                    if row is not None:
                        row.expires_at = renewed.expires_at
                await channels.forget(session, stopped)
                calendar.push_state, calendar.push_error = "active", None
        except ProviderError as exc:
            log.warning("push_channel_failed", calendar=snap.object_id, kind=exc.kind.value, message=exc.message)
            async with self._owned(snap.id) as (_session, calendar):
                calendar.push_state, calendar.push_error = "failing", exc.message

    async def _tear_down(self, snap: CalendarSnapshot, provider: CalendarProvider) -> None:
        """A deleted calendar: stop its channels on the platform (best effort), then remove the row."""
        async with self.context.db.read() as session:
            rows = await channels.channels_of(session, snap.id)
        try:
            token = await self._access_token(snap, provider)
            await channels.stop_remote(provider, token, rows)
        except ProviderError as exc:
            log.info("channel_stop_skipped", calendar=snap.object_id, kind=exc.kind.value)
        async with self._owned(snap.id) as (session, calendar):
            await channels.forget(session, [row.id for row in rows])
            await session.delete(calendar)

    async def _record_success(self, snap: CalendarSnapshot, result: SyncResult, claimed_due_at: datetime) -> None:
        now = self._now
        async with self._owned(snap.id) as (session, calendar):
            previous_state = calendar.state
            calendar.last_successful_sync_at = now
            calendar.last_attempted_sync_at = now
            calendar.last_sync_error = None
            calendar.consecutive_failures = 0
            # With a working push channel, polling is only a safety net.
            interval = self.context.settings.sync_fallback_interval_seconds
            if calendar.push_state == "active":
                interval = max(interval, PUSH_SAFETY_NET.total_seconds())
            fallback = now + timedelta(seconds=interval)
            calendar.sync_due_at = self._next_due(calendar, claimed_due_at, fallback)
            calendar.sync_reason = "fallback" if calendar.sync_due_at == fallback else calendar.sync_reason
            self._release(calendar)
            if previous_state != CalendarState.CONNECTED.value:
                calendar.state = CalendarState.CONNECTED.value
                calendar.connection_failure_data = None
                calendar.updated_at = now
                await announce_state_change(session, calendar, previous_state, now)
        metrics.SYNCS.labels(snap.platform, result.mode, "ok").inc()
        log.info(
            "calendar_synced",
            calendar=snap.object_id,
            mode=result.mode,
            created=len(result.changes.created),
            updated=len(result.changes.updated),
            deleted=len(result.changes.deleted),
        )

    async def _record_failure(self, snap: CalendarSnapshot, error: ProviderError, claimed_due_at: datetime) -> None:
        now = self._now
        failure = {
            "error": error.message,
            "code": error.code or error.kind.value,
            "kind": error.kind.value,
            "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        if error.kind is ErrorKind.THROTTLED:
            wait = timedelta(seconds=error.retry_after) if error.retry_after else retry_delay(3, self.rng, base=10)
            await record_throttle(self.context.db, snap.platform, snap.client_id, now + wait)
        async with self._owned(snap.id) as (session, calendar):
            calendar.last_attempted_sync_at = now
            self._release(calendar)
            if error.disconnects:
                # Channels cannot be stopped without a working grant; forget them, they expire on their own.
                await channels.forget(session, [row.id for row in await channels.channels_of(session, snap.id)])
                calendar.push_state, calendar.push_error = "none", None
                previous_state = calendar.state
                calendar.state = CalendarState.DISCONNECTED.value
                calendar.connection_failure_data = {**failure, "code": error.kind.value, "platform_code": error.code}
                calendar.encrypted_access_token = None
                calendar.access_token_expires_at = None
                # Disconnected calendars wait for new credentials (PATCH), unless a PATCH already arrived mid-sync.
                requested = calendar.sync_due_at is not None and calendar.sync_due_at < claimed_due_at
                calendar.sync_due_at = calendar.sync_due_at if requested else None
                if previous_state != CalendarState.DISCONNECTED.value:
                    calendar.updated_at = now
                    await announce_state_change(session, calendar, previous_state, now)
            else:
                calendar.consecutive_failures += 1
                calendar.last_sync_error = failure
                if error.kind is ErrorKind.THROTTLED:
                    wait = (
                        timedelta(seconds=error.retry_after) if error.retry_after else retry_delay(3, self.rng, base=10)
                    )
                else:
                    wait = retry_delay(calendar.consecutive_failures, self.rng)
                calendar.sync_due_at = self._next_due(calendar, claimed_due_at, now + wait)
                calendar.sync_reason = "retry"
        metrics.SYNCS.labels(snap.platform, "failed", error.kind.value).inc()
        log.warning(
            "calendar_sync_failed",
            calendar=snap.object_id,
            kind=error.kind.value,
            code=error.code,
            status=error.status,
            message=error.message,
            disconnected=error.disconnects,
        )

    async def _reschedule(self, snap: CalendarSnapshot, due: datetime, claimed_due_at: datetime) -> None:
        async with self._owned(snap.id) as (_session, calendar):
            calendar.sync_due_at = max(due, self._next_due(calendar, claimed_due_at, due))
            calendar.sync_reason = "throttled"
            self._release(calendar)

    async def record_crash(self, calendar_id: int, error: BaseException) -> None:
        """An unexpected failure (a bug, a database hiccup): visible on the calendar, retried with backoff."""
        now = self._now
        try:
            async with self._owned(calendar_id) as (_session, calendar):
                calendar.consecutive_failures += 1
                calendar.last_attempted_sync_at = now
                calendar.last_sync_error = {
                    "error": f"internal error ({type(error).__name__}); see the worker log",
                    "code": "internal_error",
                    "kind": "internal_error",
                    "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                }
                calendar.sync_due_at = now + retry_delay(calendar.consecutive_failures, self.rng)
                calendar.sync_reason = "retry"
                self._release(calendar)
        except Exception:
            # The database itself may be what failed: the lease then simply expires and the work is retried.
            log.exception("crash_not_recorded", calendar_id=calendar_id)

    async def release_unfinished(self, calendar_id: int) -> None:
        """Give a claimed calendar back (worker shutting down) so another worker takes it at once."""
        try:
            async with self._owned(calendar_id) as (_session, calendar):
                self._release(calendar)
                calendar.sync_due_at = self._now
        except LeaseLost:
            return
