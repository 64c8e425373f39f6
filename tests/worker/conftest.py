"""Worker tests run calsync against the emulator (the sync suite's settings: push channels, webhooks to 127.0.0.1)."""

import os
from pathlib import Path

from calsync.settings import Settings
from calsync_emulator.testing import RunningEmulator
from tests.sync.conftest import api_port, api_url, control, settings  # noqa: F401 - fixtures


def worker_process_env(
    emulator: RunningEmulator, app_settings: Settings, data_dir: Path, **extra: str
) -> dict[str, str]:
    """The environment of a real `calsync worker` process on the test's database and emulator, polling often."""
    return {
        **os.environ,
        **emulator.settings_env(),
        "CALSYNC_DATABASE_URL": app_settings.resolved_database_url,
        "CALSYNC_ENCRYPTION_KEYS": app_settings.encryption_keys or "",
        "CALSYNC_DATA_DIR": str(data_dir),
        "CALSYNC_WORKER_POLL_INTERVAL_SECONDS": "0.2",
        "CALSYNC_LOG_LEVEL": "WARNING",
        **extra,
    }
