"""The push receivers' background duty, in every process that serves the API: every `push_heartbeat_seconds`,
reach the database, record the notifications that were answered 503 while it was unreachable, and schedule a
catch-up (calsync.push.catchup) after any time in which notifications may have been refused:

- at start: whatever was sent while this process was not running went nowhere (or to another receiver; calsync
  cannot know which, so it catches up either way: one cheap incremental call per calendar);
- when the database could not be reached for longer than `push_catchup_gap_seconds`;
- when more notifications were refused than `calsync.push.missed` keeps.

A catch-up starts at most one heartbeat after the database answers again and ends within the spread
(calsync.push.catchup.spread_for: 20 calendars a second, soonest due first)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import structlog

from calsync.context import AppContext
from calsync.push import catchup, receiver
from calsync.push.missed import MissedNotifications
from calsync.store.transient import is_transient

log = structlog.get_logger(__name__)

FLUSH_DELAY_SECONDS = 0.1


class PushUpkeep:
    def __init__(self, context: AppContext, missed: MissedNotifications) -> None:
        self.context = context
        self.missed = missed
        self.last_reached: datetime | None = None  # when the database last answered this process

    async def run_once(self) -> int:
        """One beat; returns how many calendars a catch-up scheduled (0 when none was needed)."""
        now = self.context.clock()
        gap = timedelta(seconds=self.context.settings.push_catchup_gap_seconds)
        items, overflowed = self.missed.take()
        catch_up = self.last_reached is None or now - self.last_reached > gap or overflowed
        scheduled = 0
        try:
            if catch_up:
                scheduled = await self.context.db.write_retrying(
                    lambda session: catchup.schedule_catch_up(session, now), what="push_catch_up"
                )
                log.info("push_catch_up_scheduled", calendars=scheduled, since=self.last_reached)
            if items:
                accepted, rejected = await receiver.record(self.context, items)
                log.info("missed_notifications_recorded", accepted=accepted, rejected=rejected)
            if not catch_up and not items:
                await self.context.db.ping()
        except Exception as exc:
            if not is_transient(exc) and not isinstance(exc, receiver.ReceiverUnavailable):
                raise
            self.missed.put_back(items, overflowed)
            log.warning("push_upkeep_database_unavailable", kept=len(self.missed), error=type(exc).__name__)
            return 0
        self.last_reached = now
        if scheduled:
            self.context.work_signal.kick()
        return scheduled

    async def run(self, stop: asyncio.Event) -> None:
        interval = self.context.settings.push_heartbeat_seconds
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("push_upkeep_failed")
            # Until the next heartbeat, or sooner when a receiver kept a notification (then after a short pause,
            # so a burst is recorded in one transaction).
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.missed.waiting.wait())]
            await asyncio.wait(waiters, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            if self.missed.waiting.is_set() and not stop.is_set():
                await asyncio.sleep(FLUSH_DELAY_SECONDS)
