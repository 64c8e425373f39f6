"""Runs the worker loops of one process until asked to stop, then lets each finish or release its work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog

from calsync.context import AppContext
from calsync.store.transient import transient_kind
from calsync.worker import loop_cpu

log = structlog.get_logger(__name__)


class WorkLoop(Protocol):
    """One kind of work. `run_once` claims what is due, starts or does it, and returns how many items it took
    (0 makes the runner wait for a kick or the poll interval). A loop may also have `async drain()`, called
    once on shutdown to finish or hand back what it holds, and `async seconds_until_due() -> float | None`,
    so an idle runner wakes exactly when the next item falls due instead of at the next poll."""

    name: str

    async def run_once(self) -> int: ...


LoopFactory = Callable[[AppContext], WorkLoop]


class WorkerRunner:
    def __init__(self, context: AppContext, loops: list[WorkLoop]) -> None:
        self.context = context
        self.loops = loops
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        log.info("worker_started", loops=[loop.name for loop in self.loops])
        if self.context.settings.worker_loop_cpu_metrics:
            loop_cpu.install(asyncio.get_running_loop())
        try:
            # Waiting for the stop signal too keeps a worker with no loops alive until it is told to stop.
            await asyncio.gather(self._stopping.wait(), *(self._drive(loop) for loop in self.loops))
        finally:
            for loop in self.loops:
                drain = getattr(loop, "drain", None)
                if drain is not None:
                    await drain()
            log.info("worker_stopped")

    async def _drive(self, loop: WorkLoop) -> None:
        poll = self.context.settings.worker_poll_interval_seconds
        loop_cpu.enter(loop.name)
        while not self._stopping.is_set():
            try:
                handled = await loop.run_once()
            except Exception as exc:
                # A loop must survive anything one item does; the item itself records its failure.
                _log_loop_failure("work_loop_failed", loop.name, exc)
                handled = 0
            if handled:
                continue
            await self._idle(await self._idle_seconds(loop, poll), loop.name)

    async def _idle_seconds(self, loop: WorkLoop, poll: float) -> float:
        """Sleep until the loop's next known due time (e.g. the end of a push debounce), at most `poll`."""
        seconds_until_due = getattr(loop, "seconds_until_due", None)
        if seconds_until_due is None:
            return poll
        try:
            due_in: float | None = await seconds_until_due()
        except Exception as exc:
            _log_loop_failure("next_due_lookup_failed", loop.name, exc)
            return poll
        return poll if due_in is None else max(0.01, min(poll, due_in))

    async def _idle(self, seconds: float, waiter: str) -> None:
        stop = asyncio.ensure_future(self._stopping.wait())
        kick = asyncio.ensure_future(self.context.work_signal.wait(seconds, waiter))
        await asyncio.wait({stop, kick}, return_when=asyncio.FIRST_COMPLETED)
        for task in (stop, kick):
            task.cancel()


def _log_loop_failure(event: str, loop: str, exc: Exception) -> None:
    """A database fault is an expected event (the loop polls again); anything else is a bug, with its traceback."""
    kind = transient_kind(exc)
    if kind is not None:
        log.warning(event, loop=loop, database_fault=kind)
    else:
        log.exception(event, loop=loop)


async def run_until(signal_received: Awaitable[object], runner: WorkerRunner) -> None:
    """Run `runner` until `signal_received` completes, then stop it gracefully."""
    task = asyncio.create_task(runner.run())
    waiter = asyncio.ensure_future(signal_received)
    done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        # The runner only ends early by crashing: stop what it runs beside (e.g. the API server) too.
        waiter.cancel()
        task.result()
        return
    runner.stop()
    await task
