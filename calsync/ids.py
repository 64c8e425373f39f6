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


# The largest multiple of the alphabet's size below 256: bytes above it are dropped so every character is
# equally likely (no modulo bias).
_UNBIASED_LIMIT = 256 - 256 % len(_ALPHABET)
# byte -> character in one C-level `bytes.translate` (ids are minted for every stored event).
_BYTE_TO_CHAR = bytes(ord(_ALPHABET[b % len(_ALPHABET)]) for b in range(_UNBIASED_LIMIT)).ljust(256, b"?")
_BIASED_BYTES = bytes(range(_UNBIASED_LIMIT, 256))


def new_id(prefix: str) -> str:
    return new_ids(prefix, 1)[0]


def new_ids(prefix: str, count: int) -> list[str]:
    """`count` ids from one draw of random bytes (one system call, not one per id: a sync mints an id for every
    event it stores)."""
    chars = b""
    while len(chars) < ID_LENGTH * count:
        # 8 spare bytes per id almost always leave enough after dropping the biased ones (each dropped with p = 1/32).
        chars += secrets.token_bytes((ID_LENGTH + 8) * (count - len(chars) // ID_LENGTH)).translate(
            _BYTE_TO_CHAR, _BIASED_BYTES
        )
    text = chars.decode("ascii")
    return [prefix + text[start : start + ID_LENGTH] for start in range(0, ID_LENGTH * count, ID_LENGTH)]


def looks_like_id(prefix: str, value: str) -> bool:
    return re.fullmatch(re.escape(prefix) + rf"[A-Za-z0-9]{{{ID_LENGTH}}}", value) is not None


def lease_owner_id() -> str:
    """Who holds a lease: host, process and a random part (one process may run several loops)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
