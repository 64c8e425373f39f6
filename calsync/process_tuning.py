"""Settings of a long-running calsync process (`serve`, `api`, `worker`)."""

from __future__ import annotations

import gc

# A platform page decodes into tens of thousands of objects. With CPython's default of 700 allocations per
# young-generation collection, the collector ran ~400 times per 5,000 synced events and took 15-18% of the
# worker's CPU; at 20,000 it runs ~12 times and takes about half of that (bench/initial_sync.py, docs/benchmarks.md).
YOUNG_GENERATION_THRESHOLD = 20_000


def tune_garbage_collector() -> None:
    """Collect once, freeze what start-up loaded (modules, the app, settings live as long as the process, so
    later full collections need not walk them), and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _young, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, oldest)
