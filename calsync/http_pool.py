"""Connection-pool limits shared by every outbound httpx client calsync makes.

An idle keep-alive connection is dropped by the client before the server's idle timeout can close it: uvicorn
and Node both close idle connections after 5 s, httpx's own default is also 5 s, and with equal timers a request
sent on a connection the server is closing at that instant fails with a ReadError (seen in CI against the
emulator). Expiring ours after 4 s turns that race into a fresh connect.
"""

from __future__ import annotations

import httpx

KEEPALIVE_EXPIRY_SECONDS = 4.0


def pool_limits(max_connections: int | None = 100, max_keepalive_connections: int | None = 20) -> httpx.Limits:
    return httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_keepalive_connections,
        keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
    )
