"""Public object ids: a prefix plus 16 random alphanumerics, as the Attendee API uses (`cal_…`, `evt_…`)."""

from __future__ import annotations

import re
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
ID_LENGTH = 16


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(ID_LENGTH))


def looks_like_id(prefix: str, value: str) -> bool:
    return re.fullmatch(re.escape(prefix) + rf"[A-Za-z0-9]{{{ID_LENGTH}}}", value) is not None
