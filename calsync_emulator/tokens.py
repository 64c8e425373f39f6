"""Opaque tokens (sync tokens, page tokens, delta links): URL-safe base64 of a small JSON object.

Clients must treat them as opaque; the emulator only needs them to be self-describing so that no
server-side state is kept per token. Tampered or foreign tokens decode to None.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any


def encode(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str, kind: str) -> dict[str, Any] | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict) or payload.get("k") != kind:
        return None
    return payload


def fingerprint(params: list[tuple[str, str]]) -> str:
    """A short digest of a query, so a page token is only honoured for the identical query."""
    text = "&".join(f"{k}={v}" for k, v in sorted(params))
    return hashlib.sha256(text.encode()).hexdigest()[:12]
