"""The overview's calendar counts, reused for a short while in large projects.

Counting reads every calendar row of the project (no index answers "by platform and state, with a sync error"),
so its cost grows with the deployment. When a count took longer than `slow`, the next page loads of that project
show it again for up to `keep`, with the time it was counted, instead of reading every row once more; small
projects are counted afresh on every load. Counts are per process, like the rest of the dashboard's state."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from calsync.dashboard.queries import CalendarCounts, HourBucket

Overview = tuple[CalendarCounts, list[HourBucket]]


@dataclass(frozen=True)
class Counted:
    overview: Overview
    at: datetime  # when it was counted (the clock of the request that counted it)
    reused: bool  # shown again rather than counted for this load


class OverviewCache:
    def __init__(
        self,
        *,
        slow: timedelta = timedelta(milliseconds=20),
        keep: timedelta = timedelta(seconds=30),
        projects: int = 256,
    ) -> None:
        self.slow, self.keep, self.projects = slow, keep, projects
        self._kept: OrderedDict[int, tuple[Overview, datetime]] = OrderedDict()

    async def get(self, project_id: int, now: datetime, count: Callable[[], Awaitable[Overview]]) -> Counted:
        kept = self._kept.get(project_id)
        if kept is not None and now - kept[1] < self.keep:
            return Counted(kept[0], kept[1], reused=True)
        started = time.perf_counter()
        overview = await count()
        if timedelta(seconds=time.perf_counter() - started) >= self.slow:
            self._kept[project_id] = (overview, now)
            self._kept.move_to_end(project_id)
            while len(self._kept) > self.projects:
                self._kept.popitem(last=False)
        else:
            self._kept.pop(project_id, None)
        return Counted(overview, now, reused=False)
