"""Webhook tests deliver to real receivers on 127.0.0.1, so the service may target http and loopback here."""

from __future__ import annotations

from pathlib import Path

import pytest

from calsync.settings import Settings


@pytest.fixture
def settings(database_url: str, tmp_path: Path, encryption_key: str) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        encryption_keys=encryption_key,
        worker_poll_interval_seconds=0.2,
        webhook_allow_http=True,
        webhook_allow_private_targets=True,
        webhook_timeout_seconds=5.0,
    )
