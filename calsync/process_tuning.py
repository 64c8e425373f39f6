"""Settings of a long-running calsync process (`serve`, `api`, `worker`)."""

from __future__ import annotations

import gc
import importlib.util
import sys

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
WORKER_YOUNG_GENERATION_THRESHOLD = 50_000

# A process that only serves the API wants short pauses instead: a collection walks every young object, so at
# 50,000 each one stopped the API for ~18 ms, and it fell on the requests that allocate most (the statements of
# the split event queries), whose p99 went from ~15 to ~40 ms at a million events (docs/benchmarks.md §3 (h)). At
# 2,000 a young collection takes ~0.5 ms and the total GC time per request is the same.
API_YOUNG_GENERATION_THRESHOLD = 2_000


def tune_garbage_collector(*, runs_worker: bool) -> None:
    """Collect once, freeze what start-up loaded (modules, the app, settings live as long as the process, so
    later collections need not walk them), and set how often the young generation is collected: rarely where
    syncs run (throughput), often where only the API does (latency)."""
    gc.collect()
    gc.freeze()
    _young, middle, oldest = gc.get_threshold()
    young = WORKER_YOUNG_GENERATION_THRESHOLD if runs_worker else API_YOUNG_GENERATION_THRESHOLD
    gc.set_threshold(young, middle, oldest)


def skip_failed_imports() -> None:
    """httpcore asks `import sniffio` on every request (to learn the async library) and falls back to asyncio when
    it is not installed. A failed import is not cached: each one searched sys.path again, several per request, which
    was a tenth of a worker's CPU per webhook delivery (bench/bot_dispatch.py). None in sys.modules
    makes that import fail at once, with the same outcome."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]
