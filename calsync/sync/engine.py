"""Syncing one calendar, start to finish, while holding its lease.

Every network call happens outside any database transaction; every write happens in a short transaction behind
the calendar's fence (calsync.sync.fence). What the outcome does to the calendar is decided by calsync.sync.outcome
(pure); this module applies it and tells the features (calsync.sync.hooks) in the same transaction."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.context import AppContext
from calsync.providers.base import CalendarProvider, ChangePage, ErrorKind, NormalizedEvent, ProviderError
from calsync.providers.registry import USER_SERVER_PLATFORMS
from calsync.store.models import Calendar
from calsync.store.transient import DatabaseUnavailable
from calsync.sync import channels, metrics, outcome, upcoming
from calsync.sync.apply import live_event_ids_in_window, plan_page, write_page
from calsync.sync.batching import ChangeBatch
from calsync.sync.changes import AppliedChanges
from calsync.sync.channel_upkeep import maintain_channels, tear_down, upkeep_due
from calsync.sync.fence import Fence, LeaseLost
from calsync.sync.hooks import CalendarConnected, CalendarDisconnected, EventsListed, PageWritten
from calsync.sync.limits import MICROSOFT_MAILBOX_CONCURRENCY, KeyedLimiter
from calsync.sync.snapshot import CalendarSnapshot, access_token, keep_pending_grant, read_snapshot
from calsync.sync.throttle import record_throttle
from calsync.sync.window import next_full_reconcile, retry_delay, sync_window

__all__ = ["CalendarSyncer", "LeaseLost", "SyncResult"]

log = structlog.get_logger(__name__)

# Records a listing's success in the transaction of its last page (the calendar behind the fence, the cursor).
Finisher = Callable[[AsyncSession, Calendar, str | None], Awaitable[bool]]

# A sync the database failed (beyond its transaction retries) is due again after 1-2 times this.
DATABASE_FAULT_RETRY = timedelta(seconds=2)
# After a full list, stored events the list did not return are checked one by one, up to this many.
MAX_INDIVIDUAL_CHECKS = 100


@dataclass
class SyncResult:
    mode: str  # "full", "incremental", "reconcile", or "skipped"
    changes: AppliedChanges = field(default_factory=AppliedChanges)
    error: ProviderError | None = None
    # What the listing leaves for the next sync (its cursor; a full list's window and reconcile times), stored
    # with the success: one transaction per sync fewer. Should the sync end otherwise, the next one lists again
    # from the stored cursor, and the events it writes again compare unchanged.
    finished: dict[str, object] = field(default_factory=dict)
    # The success was recorded (and the lease released) in the transaction of the listing's last page.
    recorded: bool = False


def _keep_owner(snap: CalendarSnapshot, calendar: Calendar) -> None:
    """The owner this sync learned from the platform goes with its first write, before the features hear of the
    events (they learn an owner from the events only when none is known). A sync that fails before any write
    asks again next time."""
    if calendar.owner_email is None and snap.owner_email is not None:
        calendar.owner_email = snap.owner_email


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
        # User-named servers (a family's Nextcloud, a Radicale) are small: one account's syncs take turns.
        self.server_accounts = KeyedLimiter(context.settings.caldav_account_concurrency)
        self.fence = Fence(context, worker_id)

    @property
    def _now(self) -> datetime:
        return self.context.clock()

    # -- the sync ------------------------------------------------------------------------------------------

    async def sync(
        self, calendar_id: int, claimed_due_at: datetime, snapshot: CalendarSnapshot | None = None
    ) -> SyncResult:
        """Sync a calendar this worker leases, from `snapshot` when its claim read it (else read here)."""
        snap = snapshot or await read_snapshot(self.context, calendar_id, self.worker_id)
        provider = self.providers[snap.platform]
        if snap.deleted:
            await tear_down(self.fence, snap, provider)
            return SyncResult(mode="deleted")
        if snap.platform == "microsoft":
            async with self.mailboxes.hold(snap.account_key or snap.object_id):
                return await self._sync(snap, provider, claimed_due_at)
        if snap.platform in USER_SERVER_PLATFORMS:
            async with self.server_accounts.hold(snap.account_key or snap.object_id):
                return await self._sync(snap, provider, claimed_due_at)
        return await self._sync(snap, provider, claimed_due_at)

    async def _sync(self, snap: CalendarSnapshot, provider: CalendarProvider, claimed_due_at: datetime) -> SyncResult:
        result = SyncResult(mode="incremental")
        wait_until = snap.throttled_until
        if wait_until is not None:
            await self._settle(
                snap.id, lambda facts: outcome.throttled(facts, wait_until, claimed_due_at), "reschedule"
            )
            return SyncResult(mode="skipped")
        # A calendar without a working channel gets one before it is listed: a change made while the channel is
        # being opened is then in the listing or notified, never neither. Renewals happen after the sync, while the
        # old channel still notifies.
        await maintain_channels(self.fence, snap, provider, new_only=True)
        try:
            try:
                await self._run(snap, provider, result, claimed_due_at)
            except ProviderError as exc:
                if exc.status != 401 or not snap.access_token:
                    raise
                # The access token was refused before its time: drop it and try once more with a fresh one.
                snap.access_token = None
                result.changes, result.finished = AppliedChanges(), {}
                await self._run(snap, provider, result, claimed_due_at)
        except ProviderError as exc:
            result.error = exc
            await self._record_failure(snap, exc, claimed_due_at)
            return result
        if not result.recorded:
            if not snap.channels_maintained:
                await maintain_channels(self.fence, snap, provider)
            await self._record_success(snap, result, claimed_due_at)
        self._report_success(snap, result)
        return result

    async def _run(
        self, snap: CalendarSnapshot, provider: CalendarProvider, result: SyncResult, claimed_due_at: datetime
    ) -> None:
        token = await access_token(self.fence, snap, provider)
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
                # Nothing left to do on the platform after the listing: its last page's transaction records the
                # success too (one transaction per sync fewer).
                finish = None if upkeep_due(self.context, snap, now) else self._finisher(snap, result, claimed_due_at)
                cursor = await self._consume(snap, pages, result, finish=finish)
                if cursor is not None:
                    result.finished["sync_cursor"] = cursor
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
        """The calendar owner's email (internal/external, own events), once per calendar. A platform that does not
        say is asked no more: the features learn it from the events (`EventsListed`)."""
        try:
            owner = await provider.calendar_owner(token, snap.platform_uuid)
        except ProviderError as exc:
            if exc.disconnects or exc.kind is ErrorKind.THROTTLED:
                raise
            log.info("calendar_owner_unknown", calendar=snap.object_id, kind=exc.kind.value)
            return
        # Stored by the sync's next write (`_keep_owner`), not in a transaction of its own.
        snap.owner_email = owner

    async def _consume(
        self,
        snap: CalendarSnapshot,
        pages: AsyncIterator[ChangePage],
        result: SyncResult,
        seen: set[str] | None = None,
        last_read: Callable[[AsyncSession], Awaitable[object]] | None = None,
        finish: Finisher | None = None,
    ) -> str | None:
        """Write the pages (merged into batches) and return the listing's cursor; `seen` collects every id listed.
        `last_read` runs in the last batch's transaction, before it writes, and `finish` after it writes, with the
        listing's cursor (when there is a last batch)."""
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
        last: Callable[[AsyncSession, Calendar], Awaitable[bool]] | None = None
        if finish is not None:

            async def last(session: AsyncSession, calendar: Calendar) -> bool:
                return await finish(session, calendar, cursor)

        result.changes.extend(await self._apply(snap, *batch.take(), first=last_read, last=last))
        return cursor

    async def _apply(
        self,
        snap: CalendarSnapshot,
        events: list[NormalizedEvent],
        removed_ids: list[str],
        first: Callable[[AsyncSession], Awaitable[object]] | None = None,
        last: Callable[[AsyncSession, Calendar], Awaitable[bool]] | None = None,
    ) -> AppliedChanges:
        if not events and not removed_ids:
            return AppliedChanges()
        hooks = self.context.hooks

        async def write(session: AsyncSession, calendar: Calendar) -> tuple[AppliedChanges, bool]:
            now = self._now
            if first is not None:
                await first(session)
            _keep_owner(snap, calendar)
            keep_pending_grant(self.context, snap, calendar)
            await hooks.publish(session, EventsListed(calendar, events, now))
            plan = await plan_page(session, calendar, events, removed_ids)
            # The features hear of the change as of this sync, in the transaction that makes it: its webhook, then
            # the bots that follow the changed events, then the meetings to evaluate.
            woke = await hooks.publish(session, PageWritten(calendar, plan, now))
            # Last: the change clock is taken from here to the commit (docs/architecture.md, lock order).
            await write_page(session, calendar, plan, now)
            if last is not None:
                # After the rows, so that the next check by need sees this page's meetings: one read and the
                # calendar's update more under the clock, instead of a transaction of their own.
                woke = await last(session, calendar) or woke
            return plan.changes, woke

        changes, woke = await self.fence.write(snap.id, write, "apply_page")
        snap.pending_grant = None
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
        live: set[str] | None = None

        async def stored(session: AsyncSession) -> set[str]:
            nonlocal live
            live = await live_event_ids_in_window(session, snap.id, window_start, window_end)
            return live

        # A full list carries no tombstones: stored events it did not return were deleted, or moved out of
        # the window. Ask for each (a few at most, normally) rather than guess. Which are stored is read in the
        # last batch's transaction, before it writes (saving a transaction): the rows of this listing's batches
        # are all in `seen`, so what was stored before the last batch, less `seen`, is what is stored after it.
        cursor = await self._consume(snap, pages, result, seen, last_read=stored)
        if live is None:  # the listing ended without a batch to write
            live = await self.context.db.read_retrying(stored, what="live_event_ids")
        missing = sorted(live - seen)
        found: list[NormalizedEvent] = []
        removed: list[str] = missing[MAX_INDIVIDUAL_CHECKS:]
        for uuid in missing[:MAX_INDIVIDUAL_CHECKS]:
            event = await provider.get_event(token, snap.platform_uuid, uuid)
            if event is None or event.is_deleted:
                removed.append(uuid)
            else:
                found.append(event)
        result.changes.extend(await self._apply(snap, found, removed))
        finished: dict[str, object] = {
            "sync_cursor": cursor,
            "window_start": window_start,
            "window_end": window_end,
            "last_full_sync_at": now,
            "next_full_sync_at": next_full_reconcile(now, self.context.settings, self.rng),
        }
        if result.mode == "reconcile":
            # Everything a scheduled reconcile changes is something incremental sync had missed.
            finished["last_drift_count"] = result.changes.count
        result.finished = finished
        if result.mode == "reconcile":
            metrics.DRIFT.labels(snap.platform).inc(result.changes.count)

    # -- outcomes ------------------------------------------------------------------------------------------

    def _release(self, calendar: Calendar) -> None:
        calendar.lease_owner = None
        calendar.lease_expires_at = None

    def _backoff(self, failures: int) -> timedelta:
        return retry_delay(failures, self.rng)

    async def _settle(
        self, calendar_id: int, decide: Callable[[outcome.CalendarFacts], outcome.OutcomePlan], what: str
    ) -> bool:
        """Apply the outcome `decide` plans for the calendar (read behind the fence) and release its lease, as every
        outcome does; whether the features queued work to start at once."""

        async def plan(_session: AsyncSession, calendar: Calendar) -> outcome.OutcomePlan:
            return decide(outcome.CalendarFacts.of(calendar))

        return await self._settle_planned(calendar_id, plan, what)

    async def _settle_planned(
        self,
        calendar_id: int,
        plan_for: Callable[[AsyncSession, Calendar], Awaitable[outcome.OutcomePlan]],
        what: str,
    ) -> bool:
        """`_settle` for a plan that needs to read more than the calendar's own columns first."""

        async def record(session: AsyncSession, calendar: Calendar) -> bool:
            return await self._close(session, calendar, await plan_for(session, calendar))

        woke = await self.fence.write(calendar_id, record, what)
        if woke:
            self.context.work_signal.kick()
        return woke

    async def _close(self, session: AsyncSession, calendar: Calendar, plan: outcome.OutcomePlan) -> bool:
        """Apply an outcome and release the lease, in the caller's transaction behind the fence."""
        if plan.forget_channels:
            await channels.forget(session, [row.id for row in await channels.channels_of(session, calendar.id)])
        plan.apply_to(calendar)
        self._release(calendar)
        return await self._announce(session, calendar, plan)

    async def _announce(self, session: AsyncSession, calendar: Calendar, plan: outcome.OutcomePlan) -> bool:
        """The features hear that the calendar connected or disconnected, in the transaction that does it."""
        if plan.became is None or plan.previous_state is None or plan.at is None:
            return False
        if plan.state_changed:
            metrics.STATE_CHANGES.labels(plan.became).inc()
        now = plan.at
        if plan.became == outcome.CONNECTED:
            # Its webhook, its paused bots and the meetings waiting for it.
            return await self.context.hooks.publish(session, CalendarConnected(calendar, plan.previous_state, now))
        # Its webhook (once), its scheduled bots (paused) and their meetings (re-evaluated).
        return await self.context.hooks.publish(session, CalendarDisconnected(calendar, plan.previous_state, now))

    async def _success_plan(
        self,
        session: AsyncSession,
        calendar: Calendar,
        snap: CalendarSnapshot,
        result: SyncResult,
        claimed_due_at: datetime,
    ) -> outcome.OutcomePlan:
        _keep_owner(snap, calendar)
        keep_pending_grant(self.context, snap, calendar)
        for name, value in result.finished.items():
            setattr(calendar, name, value)
        # The next check when nothing asks sooner: by need, before an upcoming meeting (calsync.sync.schedule).
        now = self._now
        check = await upcoming.plan_next_check(session, calendar, now, self.context.settings)
        return outcome.succeeded(outcome.CalendarFacts.of(calendar), now, claimed_due_at, check.due_at, check.reason)

    def _finisher(self, snap: CalendarSnapshot, result: SyncResult, claimed_due_at: datetime) -> Finisher:
        """What records an incremental listing's success in the transaction of its last page."""

        async def finish(session: AsyncSession, calendar: Calendar, cursor: str | None) -> bool:
            result.recorded = False  # (a transaction re-run after a fault decides afresh)
            if calendar.state != outcome.CONNECTED:
                # Connecting tells the features (webhook, paused bots), whose row locks come before the change clock
                # (calsync.store.due_work, "Lock order"): that success keeps a transaction of its own.
                return False
            if cursor is not None:
                result.finished["sync_cursor"] = cursor
            woke = await self._close(
                session, calendar, await self._success_plan(session, calendar, snap, result, claimed_due_at)
            )
            # Set in the transaction: should its commit fail, the sync fails with it and this result is not returned.
            result.recorded = True
            return woke

        return finish

    async def _record_success(self, snap: CalendarSnapshot, result: SyncResult, claimed_due_at: datetime) -> None:
        async def plan(session: AsyncSession, calendar: Calendar) -> outcome.OutcomePlan:
            return await self._success_plan(session, calendar, snap, result, claimed_due_at)

        await self._settle_planned(snap.id, plan, "record_success")

    def _report_success(self, snap: CalendarSnapshot, result: SyncResult) -> None:
        snap.pending_grant = None
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
        throttle_wait: timedelta | None = None
        if error.kind is ErrorKind.THROTTLED:
            throttle_wait = (
                timedelta(seconds=error.retry_after) if error.retry_after else retry_delay(3, self.rng, base=10)
            )
            await record_throttle(self.context.db, snap.platform, snap.client_id, now + throttle_wait)

        async def plan(_session: AsyncSession, calendar: Calendar) -> outcome.OutcomePlan:
            # A token refreshed before the failure is kept: retrying a failing calendar costs no refresh per attempt.
            keep_pending_grant(self.context, snap, calendar)
            facts = outcome.CalendarFacts.of(calendar)
            return outcome.failed(facts, error, now, claimed_due_at, throttle_wait=throttle_wait, backoff=self._backoff)

        await self._settle_planned(snap.id, plan, "record_failure")
        snap.pending_grant = None
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

    async def record_crash(self, calendar_id: int, error: BaseException) -> None:
        """An unexpected failure (a bug): visible on the calendar, retried with backoff."""
        await self._give_back(
            calendar_id, lambda facts: outcome.crashed(facts, error, self._now, self._backoff), "record_crash"
        )

    async def defer_after_database_fault(self, calendar_id: int, claimed_due_at: datetime) -> None:
        """The database failed under this sync beyond its transaction retries (calsync.store.transient). Not the
        calendar's fault: no failure is counted and nothing is shown on the calendar. It is due again in a few
        seconds, or at once if something asked for it meanwhile; if even this write fails, the lease expires
        and any worker takes it over (`lease_seconds`)."""

        def decide(facts: outcome.CalendarFacts) -> outcome.OutcomePlan:
            retry_at = self._now + DATABASE_FAULT_RETRY * self.rng.uniform(1.0, 2.0)
            return outcome.database_failed(facts, retry_at, claimed_due_at)

        await self._give_back(calendar_id, decide, "defer_after_database_fault")

    async def release_unfinished(self, calendar_id: int) -> None:
        """Give a claimed calendar back (worker shutting down) so another worker takes it at once."""
        await self._give_back(calendar_id, lambda _facts: outcome.handed_back(self._now), "release_unfinished")

    async def _give_back(
        self, calendar_id: int, decide: Callable[[outcome.CalendarFacts], outcome.OutcomePlan], what: str
    ) -> None:
        """Best effort: when the database stays unreachable the lease expires and the work is retried anyway."""
        try:
            await self._settle(calendar_id, decide, what)
        except LeaseLost:
            return
        except DatabaseUnavailable as exc:
            log.warning("calendar_release_deferred_to_lease", calendar_id=calendar_id, what=what, kind=exc.kind)
        except Exception:
            # A bug: logged with its traceback; the lease still expires and the calendar is retried.
            log.exception("calendar_release_failed", calendar_id=calendar_id, what=what)
