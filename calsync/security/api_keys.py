"""API keys: 32 random alphanumerics (as Attendee's), stored only as SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
KEY_LENGTH = 32


def generate_api_key() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(KEY_LENGTH))


def hash_api_key(key: str) -> str:
    # A fast hash is right here: keys are 190 bits of randomness, so there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()
