"""A local Google Calendar + Microsoft Graph emulator for development, tests and benchmarks.

Start it with `calsync emulator` (see `server.run`), in tests with `calsync_emulator.testing`, and drive
it with `calsync_emulator.client.EmulatorControl`. docs/emulator.md describes what it implements.
"""

from calsync_emulator.app import create_app
from calsync_emulator.state import EmulatorState
from calsync_emulator.urls import calsync_settings_env

__all__ = ["EmulatorState", "calsync_settings_env", "create_app"]
