"""A per-process memory of recent API key lookups, so that a request does not open a transaction only to find its
key (BEGIN, SELECT, COMMIT: three round trips per request). Entries are keyed by the key's digest, never the key,
and kept for a few seconds: a revoked or deleted key stops working within `ACCEPTED_SECONDS` (docs/api.md)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# How long an accepted key is trusted without asking the database: the bound on revocation (docs/api.md).
ACCEPTED_SECONDS = 5.0
# A refused key is remembered briefly too, so a client retrying a bad key costs no query per request; short, so a
# key created a moment after it was tried works at once.
REFUSED_SECONDS = 1.0
# The most digests remembered; the oldest entry goes first, so random keys cannot grow the map.
MAX_ENTRIES = 10_000


class KeyCache(Generic[T]):
    """Digest → the lookup's result (None: refused), each valid for its own time on a monotonic clock."""

    def __init__(
        self,
        *,
        accepted_seconds: float = ACCEPTED_SECONDS,
        refused_seconds: float = REFUSED_SECONDS,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.accepted_seconds = accepted_seconds
        self.refused_seconds = refused_seconds
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, T | None]] = OrderedDict()

    def lookup(self, digest: str) -> tuple[bool, T | None]:
        """(found, value): found is False when the digest is unknown or its entry expired."""
        entry = self._entries.get(digest)
        if entry is None:
            return False, None
        expires, value = entry
        if self.clock() >= expires:
            del self._entries[digest]
            return False, None
        return True, value

    def store(self, digest: str, value: T | None) -> None:
        seconds = self.refused_seconds if value is None else self.accepted_seconds
        self._entries.pop(digest, None)
        self._entries[digest] = (self.clock() + seconds, value)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
