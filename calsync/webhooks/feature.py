"""Customer webhooks as a feature: what it hears from the sync engine and its work loop (calsync.runtime)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from calsync.context import AppContext
from calsync.hooks import Hooks
from calsync.settings import Settings
from calsync.sync.hooks import CalendarConnected, CalendarDisconnected, PageWritten
from calsync.webhooks.announce import announce_event_changes, announce_state_change
from calsync.webhooks.delivery_loop import WebhookDeliveryLoop
from calsync.worker.runner import WorkLoop


async def _page_written(session: AsyncSession, event: PageWritten) -> bool:
    # The change is announced as of this sync, in the transaction that makes it (the caller kicks on changes).
    await announce_event_changes(session, event.calendar, event.plan.changes, event.now)
    return False


async def _state_changed(session: AsyncSession, event: CalendarConnected | CalendarDisconnected) -> bool:
    # A calendar found disconnected again is no news to the customer.
    if event.previous_state != event.calendar.state:
        await announce_state_change(session, event.calendar, event.previous_state, event.now)
    return False


def subscribe(hooks: Hooks, settings: Settings) -> None:
    hooks.subscribe(PageWritten, _page_written)
    hooks.subscribe(CalendarConnected, _state_changed)
    hooks.subscribe(CalendarDisconnected, _state_changed)


def loops(context: AppContext, sync: object) -> list[WorkLoop]:
    return [WebhookDeliveryLoop(context)]
