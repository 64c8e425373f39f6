"""The worker's CPU per loop: each task step is charged to the loop whose driver started the task."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time

from calsync.worker import loop_cpu


def _burn(seconds: float) -> None:
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


async def test_steps_are_charged_to_the_loop_that_started_the_task() -> None:
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()
    loop_cpu.install(loop)
    try:
        before = loop_cpu.seconds()

        async def child() -> None:
            await asyncio.sleep(0)
            _burn(0.02)

        async def driver() -> None:
            loop_cpu.enter("test_loop")
            _burn(0.02)
            # A task the loop starts inherits its loop, as a sync started by the sync loop does.
            await asyncio.create_task(child())

        await asyncio.create_task(driver())
        after = loop_cpu.seconds()
    finally:
        loop.set_task_factory(previous)
    charged = after.get("test_loop", 0.0) - before.get("test_loop", 0.0)
    assert 0.04 <= charged < 0.2
    # This test's own task was not created through the factory, so nothing of it is charged to the loop.
    assert loop_cpu.OTHER not in after or after[loop_cpu.OTHER] - before.get(loop_cpu.OTHER, 0.0) < 0.02


async def test_a_metered_task_shows_its_coroutine_state() -> None:
    """Libraries (anyio's cancel scopes) read a task's coroutine state: the meter's wrapper shows the coroutine's."""
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()
    loop_cpu.install(loop)
    try:
        started = asyncio.Event()

        async def waits() -> None:
            started.set()
            await asyncio.sleep(3600)

        task = asyncio.create_task(waits())
        await started.wait()
        assert inspect.getcoroutinestate(task.get_coro()) == inspect.CORO_SUSPENDED  # type: ignore[arg-type]
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        loop.set_task_factory(previous)
