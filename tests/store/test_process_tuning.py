from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from calsync.process_tuning import YOUNG_GENERATION_THRESHOLD, tune_garbage_collector


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_long_running_processes_freeze_start_up_objects_and_collect_young_objects_less_often(restored_gc) -> None:
    _young, middle, oldest = gc.get_threshold()
    tune_garbage_collector()
    assert gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, middle, oldest)
    assert gc.get_freeze_count() > 0
