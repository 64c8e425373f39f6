"""Worker tests run calsync against the emulator (the sync suite's settings: push channels, webhooks to 127.0.0.1)."""

from tests.sync.conftest import api_port, api_url, control, settings  # noqa: F401 - fixtures
