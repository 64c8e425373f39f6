"""Per-key concurrency limits that cost nothing for keys not in use (10,000 calendars, a handful active)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

# Graph allows 4 concurrent requests per app per mailbox; each sync makes one request at a time, so at most
# this many syncs of one mailbox's calendars may run together.
MICROSOFT_MAILBOX_CONCURRENCY = 4


class KeyedLimiter:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        semaphore, users = self._slots.get(key, (asyncio.Semaphore(self.limit), 0))
        self._slots[key] = (semaphore, users + 1)
        try:
            async with semaphore:
                yield
        finally:
            semaphore, users = self._slots[key]
            if users <= 1:
                del self._slots[key]
            else:
                self._slots[key] = (semaphore, users - 1)

    def holders(self, key: str) -> int:
        """How many hold or wait for `key`."""
        return self._slots.get(key, (None, 0))[1]

    def __len__(self) -> int:
        return len(self._slots)
