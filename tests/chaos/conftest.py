"""The `chaos` marker: `pytest -m chaos` runs only the chaos harness, `-m 'not chaos'` skips it."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "chaos: the chaos harness's short form (bench/chaos.py --quick); part of the default suite"
    )
