"""Notifications this process answered 503 because the database was unreachable. Platforms retry some of them
(Google on 5xx, Graph for up to 4 hours), but not all and not soon, so they are kept here and recorded by
`calsync.push.upkeep` as soon as the database answers again.

Bounded: past `LIMIT` distinct channels the buffer stops keeping them and remembers that it overflowed; the
upkeep then schedules a catch-up sync of every calendar with a channel instead, which covers them all."""

from __future__ import annotations

import asyncio

from calsync.push.receiver import Notification

LIMIT = 10_000


class MissedNotifications:
    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._items: dict[tuple[str, str | None], Notification] = {}
        self.overflowed = False
        # Set when something is kept: the upkeep records it soon rather than at its next heartbeat.
        self.waiting = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, notifications: list[Notification]) -> None:
        for item in notifications:
            key = (item.channel_id, item.lifecycle)
            if key in self._items or len(self._items) < self.limit:
                self._items[key] = item
            else:
                self.overflowed = True
        self.waiting.set()

    def take(self) -> tuple[list[Notification], bool]:
        """Everything kept so far, and whether some was dropped; the buffer is empty afterwards."""
        items, overflowed = list(self._items.values()), self.overflowed
        self._items, self.overflowed = {}, False
        self.waiting.clear()
        return items, overflowed

    def put_back(self, items: list[Notification], overflowed: bool) -> None:
        self.add(items)
        self.overflowed = self.overflowed or overflowed
        self.waiting.clear()  # the database just failed: the next heartbeat tries again, not a busy loop
