"""PostgreSQL LISTEN: wakes this process's workers the moment another process commits due work."""

from __future__ import annotations

import contextlib
from typing import Any

import asyncpg
import structlog
from sqlalchemy.engine import make_url

from calsync.store.work_signal import NOTIFY_CHANNEL, WorkSignal

log = structlog.get_logger(__name__)


class PostgresListener:
    name = "listen"

    def __init__(self, database_url: str, signal: WorkSignal) -> None:
        self.dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.signal = signal
        self._connection: Any = None

    async def run_once(self) -> int:
        """Keeps one LISTEN connection open; returns 0 so the runner waits between reconnect attempts."""
        if self._connection is not None and not self._connection.is_closed():
            return 0
        try:
            self._connection = await asyncpg.connect(self.dsn, timeout=10)
            await self._connection.add_listener(NOTIFY_CHANNEL, self._on_notify)
            log.info("listening", channel=NOTIFY_CHANNEL)
            # Notifications sent while no connection listened are gone: look for due work now.
            self.signal.kick()
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            log.warning("listen_failed", error=type(exc).__name__)
            self._connection = None
        return 0

    def _on_notify(self, _connection: object, _pid: int, _channel: str, waiter: str) -> None:
        # The payload names the loop the work is for (calsync.store.work_signal); empty wakes every loop.
        if waiter:
            self.signal.kick(waiter)
        else:
            self.signal.kick()

    async def drain(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
