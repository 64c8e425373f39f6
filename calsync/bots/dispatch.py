"""Dispatching due bots: the work loop, and the one short transaction that dispatches a batch.

A dispatch is the whole transaction: select the due bots (calsync.store.due_work.BOT_DISPATCHES: `FOR NO KEY
UPDATE SKIP LOCKED` on PostgreSQL, so workers never wait for each other nor for a sync that is moving a bot;
SQLite's write transaction is exclusive), set them dispatched and write their `bot.dispatch` and `bot.state_change`
outbox rows, commit. No network call inside, and no lease is needed: a worker killed before the commit dispatched
nothing (the bots are still due, and any worker takes them), one killed after it dispatched them once (they are no
longer due). A transaction re-run after a transient fault (`BOT_DISPATCHES.run`) selects what is due again, so a
commit whose outcome was lost is not repeated. The webhooks are then delivered at least once by the outbox, with one idempotency key each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.bots import metrics, payloads, rules
from calsync.bots.lifecycle import BotChanges, facts
from calsync.context import AppContext
from calsync.store.due_work import BOT_DISPATCHES, WEBHOOK_DELIVERIES
from calsync.store.models import CalendarEvent
from calsync.webhooks.payloads import BOT_DISPATCH

# Bots dispatched per transaction: big enough that 10,000 due in one minute take ~100 short transactions, small
# enough that a transaction holds its locks for milliseconds (bench/bot_dispatch.py).
BATCH_SIZE = 100
# While bots keep falling due one after another (10,000 in a minute are one every 6 ms), a worker dispatches at most
# once per grain: woken by each due time, two workers made about four transactions per bot (one dispatching a bot
# or two, one finding nothing, each with its next-due read) and as many webhook claims, which took a core at full
# size and left launches seconds late on a loaded machine (bench/bot_dispatch.py, docs/benchmarks.md §11). With
# the grain a transaction takes what fell due in the last 0.1 s. A bot created or moved to be due now still wakes
# the loop at once (the work signal): the grain only spaces wake-ups by due time.
DISPATCH_GRAIN_SECONDS = 0.1


@dataclass(frozen=True)
class Dispatched:
    bots: int  # bots taken (dispatched, or failed because their meeting had ended)
    webhooks: int  # outbox rows written
    outcomes: tuple[tuple[str, float], ...] = ()  # (state, seconds after its dispatch time) of each bot taken


async def dispatch_due(session: AsyncSession, now: datetime, *, limit: int = BATCH_SIZE) -> Dispatched:
    """Dispatch up to `limit` bots due at `now`, in due order, in the caller's transaction."""
    bots = await BOT_DISPATCHES.take(session, now, limit=limit, refresh=True)
    if not bots:
        return Dispatched(0, 0)
    event_ids = [bot.event_id for bot in bots if bot.event_id is not None]
    events: dict[int, CalendarEvent] = {}
    if event_ids:
        found = await session.execute(select(CalendarEvent).where(CalendarEvent.id.in_(event_ids)))
        events = {event.id: event for event in found.scalars()}

    by_project: dict[int, BotChanges] = {}
    outcomes: list[tuple[str, float]] = []
    for bot in bots:
        changes = by_project.setdefault(bot.project_id, BotChanges(bot.project_id))
        event = events.get(bot.event_id) if bot.event_id is not None else None
        outcome = rules.dispatch(facts(bot), event.end_time if event is not None else None, now)
        outcomes.append((outcome.state, (now - bot.dispatch_at).total_seconds()))
        if outcome.state == rules.DISPATCHED:
            bot.dispatched_at = now
        first = len(changes.webhooks)
        changes.apply(bot, outcome, now)
        if outcome.state == rules.DISPATCHED:
            # The launch goes first in the outbox, before the state change that reports it.
            changes.webhooks.insert(first, changes.outgoing(bot, BOT_DISPATCH, payloads.dispatch_data(bot, event)))
    written = 0
    for changes in by_project.values():
        written += await changes.write(session, now)
    return Dispatched(len(bots), written, tuple(outcomes))


class BotDispatchLoop:
    """The worker loop (calsync.worker.loops). Idle, it sleeps until the next bot is due; a bot created or moved
    wakes it at once (the work signal in this process, NOTIFY from others)."""

    name = BOT_DISPATCHES.waiter

    def __init__(self, context: AppContext, *, batch_size: int = BATCH_SIZE) -> None:
        self.context = context
        self.batch_size = batch_size
        # When the last transaction that dispatched bots ran (the grain counts from it).
        self._last_dispatch: datetime | None = None

    async def run_once(self) -> int:

        async def body(session: AsyncSession) -> Dispatched:
            return await dispatch_due(session, self.context.clock(), limit=self.batch_size)

        result = await BOT_DISPATCHES.run(self.context.db, body, what="dispatch_bots")
        if result.bots:
            self._last_dispatch = self.context.clock()
        # Counted once committed (a re-run transaction is counted once, by the run that returned).
        for state, lag in result.outcomes:
            metrics.DISPATCHED.labels(state).inc()
            metrics.DISPATCH_LAG.observe(lag)
        if result.webhooks:
            WEBHOOK_DELIVERIES.kick(self.context.work_signal)  # this process's delivery loop: send them now
        return result.bots

    async def seconds_until_due(self) -> float | None:
        """Time until the earliest dispatch (0 when one is already due, e.g. a bot created due while the loop was
        looking), but not before the grain since the last dispatch has passed; None when no bot is scheduled."""
        now = self.context.clock()
        due_in = await BOT_DISPATCHES.seconds_until_due(self.context.db, now, what="next_bot_due")
        if due_in is None or self._last_dispatch is None:
            return due_in
        grain_left = DISPATCH_GRAIN_SECONDS - (now - self._last_dispatch).total_seconds()
        return max(due_in, grain_left)
