"""Dashboard tests: pages over HTTP on both databases (test_pages.py), and a real browser against a real
`calsync serve` and the emulator (test_browser.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from calsync.settings import Settings


@pytest.fixture
def settings(database_url: str, tmp_path: Path, encryption_key: str) -> Settings:
    # Webhooks to a receiver on this machine, as in the README's walkthrough.
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        encryption_keys=encryption_key,
        worker_poll_interval_seconds=0.2,
        webhook_allow_http=True,
        webhook_allow_private_targets=True,
    )
