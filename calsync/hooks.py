"""The registry through which the core publishes what happened to the features that subscribe (calsync.sync.hooks
lists the events).

Subscribers are called with the open session, inside the publisher's transaction, in the order they subscribed (the
composition root's order of features, calsync.runtime). Each returns whether it queued work that a worker should
start at once; the publisher kicks the process's work signal after the commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

E = TypeVar("E")
Subscriber = Callable[[AsyncSession, E], Awaitable[bool]]


class Hooks:
    """The subscribers of one process, by event type."""

    def __init__(self) -> None:
        self._subscribers: dict[type[Any], list[Subscriber[Any]]] = {}

    def subscribe(self, event_type: type[E], subscriber: Subscriber[E]) -> None:
        self._subscribers.setdefault(event_type, []).append(subscriber)

    def subscribers(self, event_type: type[E]) -> tuple[Subscriber[E], ...]:
        return tuple(self._subscribers.get(event_type, ()))

    async def publish(self, session: AsyncSession, event: object) -> bool:
        """Call every subscriber of the event's type in order; whether any queued work to start at once."""
        wake = False
        for subscriber in self._subscribers.get(type(event), ()):
            wake = await subscriber(session, event) or wake
        return wake
