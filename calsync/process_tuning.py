"""Settings of a long-running calsync process (`serve`, `api`, `worker`)."""

from __future__ import annotations

import gc

# A platform page decodes into tens of thousands of objects, and a worker holds a page per running sync. With
# CPython's default (700 allocations per young-generation collection) an initial sync of 10,000 events ran ~430
# collections, three of them full ones of 150-190 ms, in all a third of the worker's CPU; at 100,000 it runs one
# or two, ~50 ms in all (measured with a concurrent in-process sync, docs/benchmarks.md §2). Objects without
# reference cycles are still freed at once by reference counting; only cyclic garbage waits longer.
YOUNG_GENERATION_THRESHOLD = 100_000


def tune_garbage_collector() -> None:
    """Collect once, freeze what start-up loaded (modules, the app, settings live as long as the process, so
    later full collections need not walk them), and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _young, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, oldest)
