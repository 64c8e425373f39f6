"""Settings for a calsync that talks to the emulator, the one place tests name the platforms' URLs."""

from __future__ import annotations

from typing import Any

from calsync.settings import Settings
from calsync_emulator.testing import RunningEmulator


def emulator_settings(emulator: RunningEmulator, **fields: Any) -> Settings:
    """Every platform at `emulator` (the URLs `calsync emulator` prints for the CLI), plus the test's own `fields`."""
    urls = {name.removeprefix("CALSYNC_").lower(): url for name, url in emulator.settings_env().items()}
    return Settings(**(urls | fields))
