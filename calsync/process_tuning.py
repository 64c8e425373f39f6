"""Settings of a long-running calsync process (`serve`, `api`, `worker`)."""

from __future__ import annotations

import gc

# A platform page decodes into tens of thousands of objects, and a worker holds a page per running sync. With
# CPython's default (700 allocations per young-generation collection) an initial sync of 10,892 events ran ~430
# collections, three of them full ones of 150-190 ms: ~650 ms, a third of the worker's CPU. The threshold trades
# that CPU against memory, because cyclic garbage (tasks, exceptions, sessions) waits longer to be freed:
#
#   threshold   GC time per 10,892 events   worker VmHWM, 2,000 calendars (bench/worker_memory.py --quick)
#         700   ~650 ms                     130 MB
#      20,000   ~155 ms                     146 MB
#      50,000    ~95 ms                     166 MB
#     100,000    ~80 ms                     184 MB (234 MB with 10,000 calendars)
YOUNG_GENERATION_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Collect once, freeze what start-up loaded (modules, the app, settings live as long as the process, so
    later full collections need not walk them), and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _young, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, oldest)
