"""Wakes workers as soon as work becomes due, instead of waiting for their next poll.

In one process (the embedded default) an asyncio.Event is enough. Across processes on PostgreSQL, writers
also issue NOTIFY inside their transaction (delivered only on commit), and each worker LISTENs
(see calsync.worker.listener). Polling remains the fallback either way."""

from __future__ import annotations

import asyncio

from sqlalchemy import CTE, Executable, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

NOTIFY_CHANNEL = "calsync_work"

# The work loops by name (each loop's `name`, and its waiter here). A kick naming them wakes only those: a worker
# sending 10,000 bot dispatches wakes its delivery loop per batch, not the sync loop's claim query as well.
SYNC_LOOP = "sync"
WEBHOOK_DELIVERY_LOOP = "webhook_delivery"
BOT_DISPATCH_LOOP = "bot_dispatch"
MEETING_EVALUATION_LOOP = "meeting_evaluation"


class WorkSignal:
    """Every waiter has its own flag, so one kick wakes every loop (sync, webhook delivery) that is idle, and a
    kick that arrives while a loop is busy is remembered until it next waits."""

    def __init__(self) -> None:
        self._flags: dict[str, asyncio.Event] = {}
        self._kicked = False

    def kick(self, *waiters: str) -> None:
        """Wake the named waiters (a loop's `name`), or every waiter when none is named."""
        if not waiters:
            self._kicked = True
            waiters = tuple(self._flags)
        for waiter in waiters:
            self._flags.setdefault(waiter, asyncio.Event()).set()

    def forget(self, waiter: str) -> None:
        """Drop the kicks remembered for `waiter`: it is about to look for work, and that look sees whatever work
        they announced (committed before the kick), so they need not wake it again afterwards."""
        flag = self._flags.get(waiter)
        if flag is not None:
            flag.clear()

    async def wait(self, seconds: float, waiter: str = "default") -> bool:
        """True when kicked (now or since this waiter last waited), False on timeout. A waiter's first wait returns
        at once if a kick came before it: that kick may have been for work its first look missed."""
        flag = self._flags.get(waiter)
        if flag is None:
            flag = self._flags[waiter] = asyncio.Event()
            if self._kicked:
                flag.set()
        try:
            await asyncio.wait_for(flag.wait(), seconds)
            return True
        except TimeoutError:
            return False
        finally:
            flag.clear()


async def notify_work_in_transaction(session: AsyncSession, waiter: str = "") -> None:
    """Tell other processes that work is due (for the loop named `waiter`, or for every loop); PostgreSQL delivers
    it only if the transaction commits."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_notify(:channel, :waiter)"), {"channel": NOTIFY_CHANNEL, "waiter": waiter}
        )


def with_notify(statement: CTE, waiter: str) -> Executable:
    """`statement` (a data-modifying CTE, e.g. an INSERT) and the NOTIFY of `notify_work_in_transaction` in one
    PostgreSQL statement: one round trip fewer for a writer that queues work."""
    return select(func.pg_notify(NOTIFY_CHANNEL, waiter)).add_cte(statement)
