"""The worker loop that evaluates meetings (calsync.meetings.evaluate), queued ones and those of event changes
(calsync.meetings.scan), a batch per short transaction."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from calsync.context import AppContext
from calsync.meetings.evaluate import BATCH_SIZE, Evaluated, evaluate_batch, scan_batch
from calsync.store.due_work import BOT_DISPATCHES, MEETING_EVALUATIONS, MEETING_SCANS, WEBHOOK_DELIVERIES

RESTART_EVERY = 20
# While this process syncs, evaluation waits, at most this long between two batches: a sync page's writes then
# never queue behind an evaluation batch (SQLite has one writer; both share this process's event loop), and
# meetings are still evaluated within seconds during a long initial sync (docs/benchmarks.md §12).
MAX_DEFER = timedelta(seconds=5)
# Once the evaluation has caught up, it looks again at most this often: in a steady stream of changes (every sync
# page and finished sync wakes it) each look would otherwise evaluate one change for a whole look's fixed cost (two
# transactions, the scan's cursor, the project's rules); this batches a second's changes into a few looks, and
# delays a meeting's evaluation by at most this.
MIN_GAP_SECONDS = 0.5


class Busy(Protocol):
    @property
    def busy(self) -> bool: ...


class MeetingEvaluationLoop:
    """Woken by the work signal (a sync page or a rule change queued meetings) and by the poll interval."""

    name = MEETING_EVALUATIONS.waiter

    def __init__(self, context: AppContext, *, batch_size: int = BATCH_SIZE, defer_to: Busy | None = None) -> None:
        self.context = context
        self.batch_size = batch_size
        self.defer_to = defer_to
        self.deferred_since: datetime | None = None
        # Past the rows this loop took last (queue.claim); back to 0 once nothing is left beyond it, so that rows
        # skipped because another evaluator held them, or queued with a lower id by a slower transaction, are
        # taken too; and every RESTART_EVERY batches in any case, so that such rows never wait behind a steady
        # stream of new ones.
        self.after = 0
        self.batches = 0
        # When a look last found nothing left (time.monotonic(): the gap is real time, whatever the app's clock), and
        # whether the loop was woken during the gap since: it then looks when the gap ends.
        self.caught_up_at: float | None = None
        self.woken_in_gap = False

    def _gap_left(self) -> float:
        return 0.0 if self.caught_up_at is None else self.caught_up_at + MIN_GAP_SECONDS - time.monotonic()

    async def seconds_until_due(self) -> float | None:
        """The rest of the gap when woken during it (the runner looks again then); else the poll interval."""
        left = self._gap_left()
        return left if self.woken_in_gap and left > 0 else None

    async def run_once(self) -> int:
        if self._gap_left() > 0:
            self.woken_in_gap = True
            return 0
        self.woken_in_gap = False
        if self.defer_to is not None and self.defer_to.busy:
            now = self.context.clock()
            if self.deferred_since is None:
                self.deferred_since = now
            if now - self.deferred_since < MAX_DEFER:
                return 0  # (the runner waits for the next kick: every sync page and finished sync gives one)
        self.deferred_since = None
        settings = self.context.settings
        stand_down = timedelta(seconds=settings.bot_stand_down_seconds)
        lead = settings.bot_dispatch_lead_seconds

        async def body(session: AsyncSession) -> Evaluated:
            now = self.context.clock()
            return await evaluate_batch(
                session, now, stand_down=stand_down, default_lead=lead, limit=self.batch_size, after=self.after
            )

        async def scanned(session: AsyncSession) -> Evaluated:
            now = self.context.clock()
            return await scan_batch(session, now, stand_down=stand_down, default_lead=lead, limit=self.batch_size)

        db = self.context.db
        result = await MEETING_EVALUATIONS.run(db, body, what="evaluate_meetings")
        if not result.meetings and self.after:
            self.after = 0
            result = await MEETING_EVALUATIONS.run(db, body, what="evaluate_meetings")
        self.batches += 1
        self.after = result.last_id if self.batches % RESTART_EVERY else 0
        # Then the meetings of event changes (one project's next page of them per run).
        changed = await MEETING_SCANS.run(db, scanned, what="scan_meetings")
        if result.wake or changed.wake:
            # New due bots, webhooks to send.
            self.context.work_signal.kick(BOT_DISPATCHES.waiter, WEBHOOK_DELIVERIES.waiter)
        handled = result.meetings + changed.meetings
        self.caught_up_at = None if handled else time.monotonic()
        return handled


async def evaluate_all(context: AppContext) -> int:
    """Evaluate until the queue is empty (tests, benchmarks, the CLI): the meetings evaluated."""
    loop = MeetingEvaluationLoop(context)
    total = 0
    while handled := await loop.run_once():
        total += handled
    return total
