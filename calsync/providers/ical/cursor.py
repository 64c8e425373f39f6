"""Opaque cursors for the CalDAV and ICS providers: JSON, deflated and base64url-encoded, because they carry one
entry per resource or instance (ids and digests) and live in one text column."""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from typing import Any

from calsync.providers.base import NormalizedEvent

_PREFIX = "z1."


def pack(state: dict[str, Any]) -> str:
    data = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return _PREFIX + base64.urlsafe_b64encode(zlib.compress(data, 6)).decode("ascii")


def unpack(cursor: str) -> dict[str, Any] | None:
    """The state in `cursor`, or None when it is not one of ours (another format, or corrupted)."""
    if not cursor.startswith(_PREFIX):
        return None
    try:
        state = json.loads(zlib.decompress(base64.urlsafe_b64decode(cursor[len(_PREFIX) :])))
    except (ValueError, zlib.error):
        return None
    return state if isinstance(state, dict) else None


def event_digest(event: NormalizedEvent) -> str:
    """A short digest of everything an instance carries, to tell a changed instance from an unchanged one."""
    return hashlib.blake2b(repr(event).encode(), digest_size=8).hexdigest()
