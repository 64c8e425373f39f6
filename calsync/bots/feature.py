"""Meeting bots as a feature: their bots follow the sync's events and calendars (calsync.sync.hooks), in the
transactions that change them, and their dispatch loop (registered by calsync.runtime)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from calsync.bots import lifecycle
from calsync.bots.dispatch import BotDispatchLoop
from calsync.context import AppContext
from calsync.hooks import Hooks
from calsync.settings import Settings
from calsync.sync.hooks import CalendarConnected, CalendarDeleted, CalendarDisconnected, PageWritten
from calsync.worker.runner import WorkLoop


class _Subscribers:
    def __init__(self, stand_down: timedelta) -> None:
        self.stand_down = stand_down

    async def page_written(self, session: AsyncSession, event: PageWritten) -> bool:
        # The bots of changed events follow them (their rows, then their webhooks), after the events' webhook.
        bots = await lifecycle.follow_events(
            session, event.calendar, event.plan.updated_rows(), event.now, stand_down=self.stand_down
        )
        await bots.write(session, event.now)
        return bots.wake

    async def connected(self, session: AsyncSession, event: CalendarConnected) -> bool:
        # Its paused bots resume in the transaction that reconnects it.
        bots = await lifecycle.calendar_reconnected(session, event.calendar, event.now, stand_down=self.stand_down)
        await bots.write(session, event.now)
        return bots.wake

    async def disconnected(self, session: AsyncSession, event: CalendarDisconnected) -> bool:
        # Its scheduled bots pause in the transaction that disconnects it (none are left after the first).
        bots = await lifecycle.calendar_disconnected(session, event.calendar, event.now)
        await bots.write(session, event.now)
        return bots.wake

    async def deleted(self, session: AsyncSession, event: CalendarDeleted) -> bool:
        # (while its events still exist: the bots' last state names them)
        bots = await lifecycle.calendar_deleted(session, event.calendar, event.now, handed_over=event.kept_bots)
        await bots.write(session, event.now)
        return bots.wake


def subscribe(hooks: Hooks, settings: Settings) -> None:
    subscribers = _Subscribers(timedelta(seconds=settings.bot_stand_down_seconds))
    hooks.subscribe(PageWritten, subscribers.page_written)
    hooks.subscribe(CalendarConnected, subscribers.connected)
    hooks.subscribe(CalendarDisconnected, subscribers.disconnected)
    hooks.subscribe(CalendarDeleted, subscribers.deleted)


def loops(context: AppContext, sync: object) -> list[WorkLoop]:
    return [BotDispatchLoop(context)]
