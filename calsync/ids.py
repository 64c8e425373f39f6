"""Public object ids: a prefix plus 16 random alphanumerics, as the Attendee API uses (`cal_…`, `evt_…`)."""

from __future__ import annotations

import os
import re
import secrets
import socket
import string
import uuid

_ALPHABET = string.ascii_letters + string.digits
ID_LENGTH = 16


# The largest multiple of the alphabet's size below 256: bytes above it are skipped so every character is
# equally likely (no modulo bias).
_UNBIASED_LIMIT = 256 - 256 % len(_ALPHABET)


def new_id(prefix: str) -> str:
    # One urandom call per id rather than one per character (ids are minted for every stored event).
    chars: list[str] = []
    while len(chars) < ID_LENGTH:
        chars.extend(_ALPHABET[b % len(_ALPHABET)] for b in secrets.token_bytes(2 * ID_LENGTH) if b < _UNBIASED_LIMIT)
    return prefix + "".join(chars[:ID_LENGTH])


def looks_like_id(prefix: str, value: str) -> bool:
    return re.fullmatch(re.escape(prefix) + rf"[A-Za-z0-9]{{{ID_LENGTH}}}", value) is not None


def lease_owner_id() -> str:
    """Who holds a lease: host, process and a random part (one process may run several loops)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
