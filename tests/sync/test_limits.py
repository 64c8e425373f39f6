"""Per-mailbox concurrency: at most N holders of one key at once; unused keys cost nothing."""

from __future__ import annotations

import asyncio

from calsync.sync.limits import KeyedLimiter


async def test_keyed_limiter_bounds_each_key_separately() -> None:
    limiter = KeyedLimiter(2)
    active: dict[str, int] = {"a": 0, "b": 0}
    peak: dict[str, int] = {"a": 0, "b": 0}
    release = asyncio.Event()

    async def hold(key: str) -> None:
        async with limiter.hold(key):
            active[key] += 1
            peak[key] = max(peak[key], active[key])
            await release.wait()
            active[key] -= 1

    tasks = [asyncio.create_task(hold(key)) for key in "aaaaab"]
    for _ in range(10):
        await asyncio.sleep(0)  # let every task reach the semaphore
    assert active == {"a": 2, "b": 1}, "two of the five 'a' holders run, the others wait"
    release.set()
    await asyncio.gather(*tasks)
    assert peak == {"a": 2, "b": 1}
    assert len(limiter) == 0, "keys are forgotten when nobody holds or waits"
