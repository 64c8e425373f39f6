"""Syncing one calendar, start to finish, while holding its lease.

Every network call happens outside any database transaction; every write happens in a short transaction
that first checks this worker still holds the calendar's lease (a fence: a worker whose lease expired and
was taken over can no longer write)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

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
from calsync.store.queries.calendars import mark_due
from calsync.store.transient import DatabaseUnavailable
from calsync.sync import channels, metrics
from calsync.sync.apply import live_event_ids_in_window, plan_page, write_page
from calsync.sync.batching import ChangeBatch
from calsync.sync.changes import AppliedChanges
from calsync.sync.hooks import CalendarConnected, CalendarDisconnected, EventsListed, PageWritten
from calsync.sync.limits import MICROSOFT_MAILBOX_CONCURRENCY, KeyedLimiter
from calsync.sync.throttle import record_throttle, throttled_until
from calsync.sync.tokens import cached_access_token, store_grant, stored_credentials
from calsync.sync.window import next_full_reconcile, retry_delay, sync_window

log = structlog.get_logger(__name__)
T = TypeVar("T")

# A sync the database failed (beyond its transaction retries) is due again after 1-2 times this.
DATABASE_FAULT_RETRY = timedelta(seconds=2)
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
    owner_email: str | None = None
    channels_maintained: bool = False  # this sync already opened, renewed or stopped channels (or tried to)


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

    async def _write(self, calendar_id: int, body: Callable[[AsyncSession, Calendar], Awaitable[T]], what: str) -> T:
        """`body` in one short write transaction that first checks this worker still holds the calendar's lease
        (a fence) and extends it. Transient database faults re-run the whole transaction (bounded): every body
        derives its writes from what it reads here, so a re-run never writes anything twice."""

        async def fenced(session: AsyncSession) -> T:
            # FOR NO KEY UPDATE: the fence changes no key, so it does not conflict with the foreign-key locks
            # (FOR KEY SHARE) that inserts of this calendar's events and outbox rows take on the same row.
            statement = select(Calendar).where(Calendar.id == calendar_id).with_for_update(key_share=True)
            calendar = (await session.execute(statement)).scalar_one_or_none()
            if calendar is None or calendar.lease_owner != self.worker_id:
                raise LeaseLost
            # Each write extends the lease, so a long full sync keeps it while it makes progress.
            calendar.lease_expires_at = self._now + timedelta(seconds=self.context.settings.lease_seconds)
            return await body(session, calendar)

        return await self.context.db.write_retrying(fenced, what=what)

    async def _snapshot(self, calendar_id: int) -> CalendarSnapshot:
        async def read(session: AsyncSession) -> Calendar | None:
            return await session.get(Calendar, calendar_id)

        calendar = await self.context.db.read_retrying(read, what="sync_snapshot")
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
            owner_email=calendar.owner_email,
        )

    # -- access tokens -------------------------------------------------------------------------------------

    async def _access_token(self, snap: CalendarSnapshot, provider: CalendarProvider) -> str:
        if snap.access_token:
            return snap.access_token
        grant = await provider.refresh_access_token(snap.credentials)
        metrics.TOKEN_REFRESHES.labels(snap.platform).inc()

        async def store(_session: AsyncSession, calendar: Calendar) -> None:
            store_grant(self.context.secrets, calendar, grant)

        await self._write(snap.id, store, "store_grant")
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
        # A calendar without a working channel gets one before it is listed: a change made while the channel is
        # being opened is then in the listing or notified, never neither (issue 11 item 4). Renewals happen after
        # the sync, while the old channel still notifies.
        await self._maintain_channels(snap, provider, new_only=True)
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
        if not snap.channels_maintained:
            await self._maintain_channels(snap, provider)
        await self._record_success(snap, result, claimed_due_at)
        return result

    async def _run(self, snap: CalendarSnapshot, provider: CalendarProvider, result: SyncResult) -> None:
        token = await self._access_token(snap, provider)
        if snap.owner_email is None:
            await self._learn_owner(snap, provider, token)
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

    async def _learn_owner(self, snap: CalendarSnapshot, provider: CalendarProvider, token: str) -> None:
        """The calendar owner's email (calsync.meetings: internal/external, own events), once per calendar. A
        platform that does not say is asked no more: the events' `self` attendee tells it (`_apply`)."""
        try:
            owner = await provider.calendar_owner(token, snap.platform_uuid)
        except ProviderError as exc:
            if exc.disconnects or exc.kind is ErrorKind.THROTTLED:
                raise
            log.info("calendar_owner_unknown", calendar=snap.object_id, kind=exc.kind.value)
            return
        if owner is None:
            return

        async def store(_session: AsyncSession, calendar: Calendar) -> None:
            calendar.owner_email = owner

        await self._write(snap.id, store, "store_owner")
        snap.owner_email = owner

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
                # A long (initial) sync shows its progress, one line per batch written.
                log.info("sync_progress", calendar=snap.object_id, mode=result.mode, changes=result.changes.count)
            cursor = page.cursor or cursor
        result.changes.extend(await self._apply(snap, *batch.take()))
        return cursor

    async def _apply(
        self, snap: CalendarSnapshot, events: list[NormalizedEvent], removed_ids: list[str]
    ) -> AppliedChanges:
        if not events and not removed_ids:
            return AppliedChanges()

        woke = False

        async def write(session: AsyncSession, calendar: Calendar) -> AppliedChanges:
            nonlocal woke
            now = self._now
            hooks = self.context.hooks
            await hooks.publish(session, EventsListed(calendar, events, now))
            plan = await plan_page(session, calendar, events, removed_ids)
            # The features hear of the change as of this sync (issue 11 item 7), in the transaction that makes it:
            # its webhook, then the bots that follow the changed events, then the meetings to evaluate.
            woke = await hooks.publish(session, PageWritten(calendar, plan, now))
            # Last: the project's change clock is held from here to the commit (docs/architecture.md, lock order).
            await write_page(session, calendar, plan, now)
            return plan.changes

        changes = await self._write(snap.id, write, "apply_page")
        if changes or woke:
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

        async def stored(session: AsyncSession) -> set[str]:
            return await live_event_ids_in_window(session, snap.id, window_start, window_end)

        missing = sorted(await self.context.db.read_retrying(stored, what="live_event_ids") - seen)
        found: list[NormalizedEvent] = []
        removed: list[str] = missing[MAX_INDIVIDUAL_CHECKS:]
        for uuid in missing[:MAX_INDIVIDUAL_CHECKS]:
            event = await provider.get_event(token, snap.platform_uuid, uuid)
            if event is None or event.is_deleted:
                removed.append(uuid)
            else:
                found.append(event)
        result.changes.extend(await self._apply(snap, found, removed))

        async def finish(_session: AsyncSession, calendar: Calendar) -> None:
            calendar.sync_cursor = cursor
            calendar.window_start, calendar.window_end = window_start, window_end
            calendar.last_full_sync_at = now
            calendar.next_full_sync_at = next_full_reconcile(now, self.context.settings, self.rng)
            if result.mode == "reconcile":
                # Everything a scheduled reconcile changes is something incremental sync had missed.
                calendar.last_drift_count = result.changes.count

        await self._write(snap.id, finish, "finish_full_sync")
        if result.mode == "reconcile":
            metrics.DRIFT.labels(snap.platform).inc(result.changes.count)

    async def _store_cursor(self, snap: CalendarSnapshot, cursor: str | None) -> None:
        if cursor is None:
            return

        async def store(_session: AsyncSession, calendar: Calendar) -> None:
            calendar.sync_cursor = cursor

        await self._write(snap.id, store, "store_cursor")

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

    async def _maintain_channels(
        self, snap: CalendarSnapshot, provider: CalendarProvider, *, new_only: bool = False
    ) -> None:
        """Open, renew, replace and stop the calendar's push channels as `channels.ChannelPlan` says. With
        `new_only`, act only when no channel notifies at all (nothing to keep or renew)."""
        where = channels.addresses(self.context.settings, snap.platform)
        if where is None:
            return
        address, lifecycle_address = where
        now = self._now

        async def read(session: AsyncSession) -> list[PushChannelRow]:
            return await channels.channels_of(session, snap.id)

        plan = channels.ChannelPlan(await self.context.db.read_retrying(read, what="channels_of"), now)
        if new_only and (plan.keep is not None or plan.renew is not None):
            return
        if plan.keep is not None and not plan.stop:
            return
        snap.channels_maintained = True
        try:
            token = await self._access_token(snap, provider)
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
                        mark_due(calendar, "channel_opened", self._now)
                if renewed is not None and plan.renew is not None:
                    row = await session.get(PushChannelRow, plan.renew.id)
                    if row is not None:
                        row.expires_at = renewed.expires_at
                await channels.forget(session, stopped)
                calendar.push_state, calendar.push_error = "active", None

            await self._write(snap.id, record, "record_channels")
        except ProviderError as exc:
            log.warning("push_channel_failed", calendar=snap.object_id, kind=exc.kind.value, message=exc.message)

            message = exc.message

            async def failing(_session: AsyncSession, calendar: Calendar) -> None:
                calendar.push_state, calendar.push_error = "failing", message

            await self._write(snap.id, failing, "record_channel_failure")

    async def _tear_down(self, snap: CalendarSnapshot, provider: CalendarProvider) -> None:
        """A deleted calendar: stop its channels on the platform (best effort), then remove the row."""

        async def read(session: AsyncSession) -> list[PushChannelRow]:
            return await channels.channels_of(session, snap.id)

        rows = await self.context.db.read_retrying(read, what="channels_of")
        try:
            token = await self._access_token(snap, provider)
            await channels.stop_remote(provider, token, rows)
        except ProviderError as exc:
            log.info("channel_stop_skipped", calendar=snap.object_id, kind=exc.kind.value)

        async def remove(session: AsyncSession, calendar: Calendar) -> None:
            await channels.forget(session, [row.id for row in rows])
            await session.delete(calendar)

        await self._write(snap.id, remove, "tear_down")

    def _safety_net(self, calendar: Calendar) -> float:
        """Seconds until the next sync when nothing asks for one sooner."""
        settings = self.context.settings
        if calendar.push_state == "active":
            # Push is an accelerator; this sync bounds staleness if every notification is lost, and notices a
            # revoked Google grant (Google does not notify it) within the hour by default.
            return settings.push_safety_net_seconds
        return settings.sync_fallback_interval_seconds

    async def _record_success(self, snap: CalendarSnapshot, result: SyncResult, claimed_due_at: datetime) -> None:
        woke = False

        async def record(session: AsyncSession, calendar: Calendar) -> None:
            nonlocal woke
            now = self._now
            previous_state = calendar.state
            calendar.last_successful_sync_at = now
            calendar.last_attempted_sync_at = now
            calendar.last_sync_error = None
            calendar.consecutive_failures = 0
            fallback = now + timedelta(seconds=self._safety_net(calendar))
            calendar.sync_due_at = self._next_due(calendar, claimed_due_at, fallback)
            calendar.sync_reason = "fallback" if calendar.sync_due_at == fallback else calendar.sync_reason
            self._release(calendar)
            if previous_state != CalendarState.CONNECTED.value:
                calendar.state = CalendarState.CONNECTED.value
                calendar.connection_failure_data = None
                calendar.updated_at = now
                metrics.STATE_CHANGES.labels(CalendarState.CONNECTED.value).inc()
                # Its webhook, its paused bots and the meetings waiting for it, in the transaction that reconnects it.
                woke = await self.context.hooks.publish(session, CalendarConnected(calendar, previous_state, now))

        await self._write(snap.id, record, "record_success")
        if woke:
            self.context.work_signal.kick()
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
        throttle_wait: timedelta | None = None
        if error.kind is ErrorKind.THROTTLED:
            throttle_wait = (
                timedelta(seconds=error.retry_after) if error.retry_after else retry_delay(3, self.rng, base=10)
            )
            await record_throttle(self.context.db, snap.platform, snap.client_id, now + throttle_wait)

        woke = False

        async def record(session: AsyncSession, calendar: Calendar) -> None:
            nonlocal woke
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
                    metrics.STATE_CHANGES.labels(CalendarState.DISCONNECTED.value).inc()
                # Its webhook (once), its scheduled bots (paused) and their meetings (re-evaluated), in the
                # transaction that disconnects it.
                woke = await self.context.hooks.publish(session, CalendarDisconnected(calendar, previous_state, now))
            else:
                calendar.consecutive_failures += 1
                calendar.last_sync_error = failure
                wait = throttle_wait or retry_delay(calendar.consecutive_failures, self.rng)
                calendar.sync_due_at = self._next_due(calendar, claimed_due_at, now + wait)
                calendar.sync_reason = "retry"

        await self._write(snap.id, record, "record_failure")
        if woke:
            self.context.work_signal.kick()
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
        async def record(_session: AsyncSession, calendar: Calendar) -> None:
            calendar.sync_due_at = max(due, self._next_due(calendar, claimed_due_at, due))
            calendar.sync_reason = "throttled"
            self._release(calendar)

        await self._write(snap.id, record, "reschedule")

    async def record_crash(self, calendar_id: int, error: BaseException) -> None:
        """An unexpected failure (a bug): visible on the calendar, retried with backoff."""

        async def record(_session: AsyncSession, calendar: Calendar) -> None:
            now = self._now
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

        await self._give_back(calendar_id, record, "record_crash")

    async def defer_after_database_fault(self, calendar_id: int, claimed_due_at: datetime) -> None:
        """The database failed under this sync beyond its transaction retries (calsync.store.transient). Not the
        calendar's fault: no failure is counted and nothing is shown on the calendar. It is due again in a few
        seconds, or at once if something asked for it meanwhile; if even this write fails, the lease expires
        and any worker takes it over (`lease_seconds`)."""

        async def record(_session: AsyncSession, calendar: Calendar) -> None:
            retry_at = self._now + DATABASE_FAULT_RETRY * self.rng.uniform(1.0, 2.0)
            calendar.sync_due_at = self._next_due(calendar, claimed_due_at, retry_at)
            calendar.sync_reason = "database_retry" if calendar.sync_due_at == retry_at else calendar.sync_reason
            self._release(calendar)

        await self._give_back(calendar_id, record, "defer_after_database_fault")

    async def release_unfinished(self, calendar_id: int) -> None:
        """Give a claimed calendar back (worker shutting down) so another worker takes it at once."""

        async def record(_session: AsyncSession, calendar: Calendar) -> None:
            self._release(calendar)
            calendar.sync_due_at = self._now

        await self._give_back(calendar_id, record, "release_unfinished")

    async def _give_back(
        self, calendar_id: int, body: Callable[[AsyncSession, Calendar], Awaitable[None]], what: str
    ) -> None:
        """Best effort: when the database stays unreachable the lease expires and the work is retried anyway."""
        try:
            await self._write(calendar_id, body, what)
        except LeaseLost:
            return
        except DatabaseUnavailable as exc:
            log.warning("calendar_release_deferred_to_lease", calendar_id=calendar_id, what=what, kind=exc.kind)
        except Exception:
            # A bug: logged with its traceback; the lease still expires and the calendar is retried.
            log.exception("calendar_release_failed", calendar_id=calendar_id, what=what)
