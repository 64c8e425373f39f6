from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from calsync.process_tuning import (
    API_YOUNG_GENERATION_THRESHOLD,
    WORKER_YOUNG_GENERATION_THRESHOLD,
    tune_garbage_collector,
)


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.parametrize(
    ("runs_worker", "young"), [(True, WORKER_YOUNG_GENERATION_THRESHOLD), (False, API_YOUNG_GENERATION_THRESHOLD)]
)
def test_long_running_processes_freeze_start_up_objects_and_set_the_young_threshold_by_role(
    restored_gc: None, runs_worker: bool, young: int
) -> None:
    _young, middle, oldest = gc.get_threshold()
    tune_garbage_collector(runs_worker=runs_worker)
    assert gc.get_threshold() == (young, middle, oldest)
    assert gc.get_freeze_count() > 0
