from __future__ import annotations

import gc
import importlib.util
import sys
from collections.abc import Iterator

import pytest

from calsync.process_tuning import (
    API_YOUNG_GENERATION_THRESHOLD,
    WORKER_YOUNG_GENERATION_THRESHOLD,
    skip_failed_imports,
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


def test_an_absent_sniffio_fails_to_import_at_once_and_httpx_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = importlib.util.find_spec("sniffio") is not None
    monkeypatch.delitem(sys.modules, "sniffio", raising=False)
    skip_failed_imports()
    if installed:
        assert "sniffio" not in sys.modules  # an installed one is left to be imported as usual
        return
    assert sys.modules["sniffio"] is None
    with pytest.raises(ImportError):
        import sniffio  # noqa: F401
    from httpcore._synchronization import current_async_library

    assert current_async_library() == "asyncio"  # what httpcore concludes without sniffio, as before
