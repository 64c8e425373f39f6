"""The overview's counts: counted afresh while counting is cheap, reused for a while once it is not."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from calsync.dashboard.overview_cache import OverviewCache
from calsync.dashboard.queries import CalendarCounts

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


class Counter:
    def __init__(self, seconds: float) -> None:
        self.seconds, self.calls = seconds, 0

    async def __call__(self) -> tuple[CalendarCounts, list]:
        self.calls += 1
        await asyncio.sleep(self.seconds)  # the count's own cost: what the cache measures, not a wait for an event
        return CalendarCounts(), []


async def test_a_cheap_count_is_counted_on_every_load() -> None:
    cache, count = OverviewCache(slow=timedelta(seconds=1)), Counter(0)
    for offset in range(3):
        counted = await cache.get(1, NOW + timedelta(seconds=offset), count)
        assert not counted.reused and counted.at == NOW + timedelta(seconds=offset)
    assert count.calls == 3


async def test_a_slow_count_is_reused_until_it_is_too_old() -> None:
    cache, count = OverviewCache(slow=timedelta(0), keep=timedelta(seconds=30)), Counter(0.001)
    first = await cache.get(1, NOW, count)
    again = await cache.get(1, NOW + timedelta(seconds=29), count)
    assert not first.reused and again.reused and again.at == NOW and count.calls == 1
    later = await cache.get(1, NOW + timedelta(seconds=30), count)
    assert not later.reused and later.at == NOW + timedelta(seconds=30) and count.calls == 2


async def test_projects_are_counted_apart_and_the_oldest_forgotten() -> None:
    cache, count = OverviewCache(slow=timedelta(0), projects=2), Counter(0.001)
    for project in (1, 2, 3):
        await cache.get(project, NOW, count)
    assert (await cache.get(3, NOW, count)).reused
    assert not (await cache.get(1, NOW, count)).reused  # the oldest was dropped to keep two
    assert count.calls == 4
