"""`calsync emulator`: serve the emulator with uvicorn."""

from __future__ import annotations

import uvicorn

from calsync.emulator.app import create_app


def run(host: str = "127.0.0.1", port: int = 8800) -> None:
    uvicorn.run(create_app(), host=host, port=port, log_level="warning", access_log=False)
