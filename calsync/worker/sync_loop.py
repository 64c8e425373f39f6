"""The sync work loop: claims due calendars and syncs up to `worker_concurrency` of them at once."""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.context import AppContext
from calsync.ids import lease_owner_id
from calsync.providers.base import CalendarProvider
from calsync.providers.http import make_http_client
from calsync.providers.registry import PLATFORMS, make_provider
from calsync.store.due_work import CALENDAR_SYNCS
from calsync.store.transient import run_with_retries, transient_kind
from calsync.sync import metrics
from calsync.sync.engine import CalendarSyncer, LeaseLost
from calsync.sync.snapshot import CalendarSnapshot, read_snapshots
from calsync.worker.claims import Claim, claim_due_calendars, seconds_until_next_due

log = structlog.get_logger(__name__)

# How long a stopping worker lets running syncs finish before releasing them to other workers.
DRAIN_SECONDS = 10.0


class SyncLoop:
    name = CALENDAR_SYNCS.waiter

    def __init__(self, context: AppContext, worker_id: str | None = None) -> None:
        self.context = context
        self.worker_id = worker_id or lease_owner_id()
        self.http = make_http_client(context.settings.provider_timeout_seconds, max_connections=200)
        self.providers: dict[str, CalendarProvider] = {
            platform: make_provider(platform, context.settings, self.http, clock=context.clock)
            for platform in PLATFORMS
        }
        self.syncer = CalendarSyncer(context, self.providers, self.worker_id)
        self._running: dict[int, asyncio.Task[None]] = {}
        # The last claim took calendars and fewer than it had room for: every due one was taken.
        self._took_all_due = False

    async def run_once(self) -> int:
        if self._took_all_due:
            # The runner calls again at once after a claim that took work; this one would find none, and its
            # transaction would compete with the syncs just started (a kick for new work persists and wakes the runner).
            self._took_all_due = False
            return 0
        free = self.context.settings.worker_concurrency - len(self._running)
        claims = await run_with_retries(
            lambda: claim_due_calendars(
                self.context.db,
                self.worker_id,
                self.context.clock(),
                limit=free,
                lease_seconds=self.context.settings.lease_seconds,
                read_snapshots=self._read_snapshots,
            ),
            what="claim_calendars",
        )
        self._took_all_due = 0 < len(claims) < free
        for claim in claims:
            task = asyncio.create_task(self._sync(claim), name=f"sync-{claim.calendar_id}")
            self._running[claim.calendar_id] = task
        return len(claims)

    async def _read_snapshots(self, session: AsyncSession, calendar_ids: list[int]) -> dict[int, CalendarSnapshot]:
        return await read_snapshots(self.context, session, calendar_ids, self.worker_id)

    async def seconds_until_due(self) -> float | None:
        return await seconds_until_next_due(self.context.db, self.context.clock())

    @property
    def busy(self) -> bool:
        """Whether this process is syncing calendars now (meeting evaluation defers to it)."""
        return bool(self._running)

    async def _sync(self, claim: Claim) -> None:
        try:
            with metrics.SYNC_SECONDS.labels("any").time():
                await self.syncer.sync(claim.calendar_id, claim.due_at, claim.snapshot)
        except LeaseLost:
            log.info("lease_lost", calendar_id=claim.calendar_id)
        except Exception as exc:
            kind = transient_kind(exc)
            if kind is not None:
                # An expected event (deadlock, dropped or refused connection), not the calendar's failure.
                log.warning("sync_deferred_database_fault", calendar_id=claim.calendar_id, kind=kind)
                await self.syncer.defer_after_database_fault(claim.calendar_id, claim.due_at)
            else:
                log.exception("sync_crashed", calendar_id=claim.calendar_id)
                await self.syncer.record_crash(claim.calendar_id, exc)
        finally:
            self._running.pop(claim.calendar_id, None)
            # A slot is free: this loop looks for more work now rather than at the next poll; when the last sync
            # ends, every loop looks (those that defer to running syncs, meeting evaluation, wait for that kick).
            if self._running:
                self.context.work_signal.kick(self.name)
            else:
                self.context.work_signal.kick()

    async def drain(self) -> None:
        """On shutdown: let running syncs finish for a while, then cancel and hand their calendars back."""
        if self._running:
            _done, pending = await asyncio.wait(set(self._running.values()), timeout=DRAIN_SECONDS)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for calendar_id in [int(t.get_name().removeprefix("sync-")) for t in pending]:
                await self.syncer.release_unfinished(calendar_id)
        await self.http.aclose()
