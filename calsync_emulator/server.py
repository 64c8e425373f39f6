"""`calsync emulator`: serve the emulator with uvicorn, over http or (with `tls`) https."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from calsync_emulator.app import create_app
from calsync_emulator.tls import TlsFiles


def run(host: str = "127.0.0.1", port: int = 8800, tls: TlsFiles | None = None) -> None:
    """Serve until interrupted; with `tls`, https with the certificate of tls.make_certificates."""
    uvicorn.run(
        create_app(),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        ssl_certfile=str(tls.cert_path) if tls else None,
        ssl_keyfile=str(tls.key_path) if tls else None,
    )


def base_url(host: str, port: int, tls: bool) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


def tls_directory(explicit: str | None) -> Path:
    """Where the certificates go: the given directory, or a fresh temporary one."""
    import tempfile

    return Path(explicit) if explicit else Path(tempfile.mkdtemp(prefix="calsync-emulator-tls-"))
