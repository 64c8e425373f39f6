"""Wakes workers as soon as work becomes due, instead of waiting for their next poll.

In one process (the embedded default) an asyncio.Event is enough. Across processes on PostgreSQL, writers
also issue NOTIFY inside their transaction (delivered only on commit), and each worker LISTENs
(see calsync.worker.listener). Polling remains the fallback either way."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

NOTIFY_CHANNEL = "calsync_work"


class WorkSignal:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def kick(self) -> None:
        self._event.set()

    async def wait(self, seconds: float) -> bool:
        """True when kicked, False on timeout. Clears the signal either way."""
        try:
            await asyncio.wait_for(self._event.wait(), seconds)
            return True
        except TimeoutError:
            return False
        finally:
            self._event.clear()


async def notify_work_in_transaction(session: AsyncSession) -> None:
    """Tell other processes that work is due; PostgreSQL delivers it only if the transaction commits."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
