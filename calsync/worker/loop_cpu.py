"""CPU time per worker loop (`calsync_worker_loop_cpu_seconds_total{loop}`), when `worker_loop_cpu_metrics` is on.

A worker runs its loops (syncs, meetings, webhook deliveries, bots) as tasks of one event loop, so the process's CPU
does not say which loop spent it. Each task step is timed with the thread's CPU clock and charged to the loop that
the task belongs to: the loop whose `WorkerRunner._drive` created it, directly or through the tasks it started
(a task inherits its creator's context). What runs outside a task step (the event loop itself, socket callbacks
such as the database driver's message parsing) is charged to no loop: the process's CPU less the sum is that.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Generator, Iterable
from contextvars import ContextVar
from typing import Any

from prometheus_client.core import REGISTRY, CounterMetricFamily
from prometheus_client.registry import Collector

OTHER = "other"
_LOOP: ContextVar[str] = ContextVar("calsync_worker_loop", default=OTHER)
# Seconds per loop, added to on every task step: a dict add, not a locked Prometheus counter, keeps the meter cheap.
_SECONDS: dict[str, float] = {}


def enter(loop_name: str) -> None:
    """Charge the current task, and the tasks it starts from now on, to `loop_name`."""
    _LOOP.set(loop_name)


def seconds() -> dict[str, float]:
    """CPU seconds per loop so far (a copy)."""
    return dict(_SECONDS)


class _Metered(Coroutine[Any, Any, Any]):
    """A task's coroutine, each step of which is timed and charged to the task's loop when the step ends."""

    __slots__ = ("_coro",)

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._coro = coro

    def send(self, value: Any) -> Any:
        started = time.thread_time()
        try:
            return self._coro.send(value)
        finally:
            _charge(started)

    def throw(self, *args: Any) -> Any:
        started = time.thread_time()
        try:
            return self._coro.throw(*args)
        finally:
            _charge(started)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, None, Any]:
        return self._coro.__await__()

    def __getattr__(self, name: str) -> Any:
        # cr_frame, cr_running, __qualname__ …: what libraries inspect of a task's coroutine (inspect.getcoroutinestate).
        return getattr(self._coro, name)


def _charge(started: float) -> None:
    loop_name = _LOOP.get()
    _SECONDS[loop_name] = _SECONDS.get(loop_name, 0.0) + time.thread_time() - started


def _task_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
    return asyncio.Task(_Metered(coro), loop=loop, **kwargs)


class _LoopCpuCollector(Collector):
    def collect(self) -> Iterable[CounterMetricFamily]:
        family = CounterMetricFamily(
            "calsync_worker_loop_cpu_seconds", "CPU seconds spent in each worker loop's task steps.", labels=["loop"]
        )
        for loop_name, value in sorted(_SECONDS.items()):
            family.add_metric([loop_name], value)
        yield family


_registered = False


def install(loop: asyncio.AbstractEventLoop) -> None:
    """Meter every task that `loop` creates from now on, and export the counter (once per process)."""
    global _registered
    loop.set_task_factory(_task_factory)
    if not _registered:
        REGISTRY.register(_LoopCpuCollector())
        _registered = True
