"""Failed dashboard sign-ins are limited per client address and per key prefix (docs/dashboard.md, "Security").

API keys are 190 random bits, so guessing one is hopeless anyway; the limit keeps a script from hammering the
form (each attempt is a database lookup) and makes a stolen-prefix hunt visible in the log. Only failures count:
an operator who signs in correctly is never slowed down, however often. The prefix is the key's first four
characters, what calsync stores and shows of a key (`calsync api-keys list`), so repeated guesses at one key from
many addresses are limited too. The windows are the API's sliding-window limiter, on the injectable clock, in this
process (each API process of a deployment limits its own share).
"""

from __future__ import annotations

from calsync.clock import Clock
from calsync.web.ratelimit import SlidingWindowLimiter

PREFIX_CHARS = 4  # as calsync.store.queries.projects.create_api_key's key_prefix


class SignInLimiter:
    def __init__(self, failures_per_minute: int, clock: Clock) -> None:
        self._by_address = SlidingWindowLimiter(failures_per_minute, clock)
        self._by_prefix = SlidingWindowLimiter(failures_per_minute, clock)

    def wait(self, address: str, api_key: str) -> float | None:
        """Seconds until this address, or a guess at this key prefix, may try again; None when it may now."""
        waits = [
            wait
            for wait in (self._by_address.wait(address), self._by_prefix.wait(_prefix(api_key)))
            if wait is not None
        ]
        return max(waits) if waits else None

    def failed(self, address: str, api_key: str) -> None:
        self._by_address.record(address)
        self._by_prefix.record(_prefix(api_key))


def _prefix(api_key: str) -> str:
    return api_key[:PREFIX_CHARS]
