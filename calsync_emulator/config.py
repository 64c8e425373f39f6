"""Knobs of the emulator, changeable at run time through `PATCH /_emulator/config`.

Where the real platforms' documented and observed behaviour differ, the default is the documented
one and the other is a switch here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(slots=True)
class EmulatorConfig:
    access_token_lifetime_seconds: int = 3599
    recurrence_horizon_days: int = 730  # how far ahead unbounded series are expanded
    google_default_max_results: int = 250
    google_max_max_results: int = 2500
    google_empty_page_first: bool = False  # start every listing with an empty page carrying nextPageToken
    google_channel_default_ttl_seconds: int = 604800
    google_channel_max_ttl_seconds: int = 604800
    google_require_https: bool = False  # the real platform refuses http:// addresses
    graph_default_page_size: int = 10
    graph_max_page_size: int = 1000
    graph_empty_page_first: bool = False  # start every delta round with an empty page carrying a nextLink
    graph_subscription_max_minutes: int = 10080
    graph_subscription_min_minutes: int = 45
    graph_validation_timeout_seconds: float = 10.0
    notification_timeout_seconds: float = 5.0
    notification_concurrency: int = 32
    request_log_size: int = 10000
    sync_token_ttl_seconds: int = 0  # > 0: sync tokens and delta links older than this get 410
    seed_cache_calendars: int = 2000  # untouched seeded calendars kept generated; others regenerate on access

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def update(self, changes: dict[str, Any]) -> None:
        known = {f.name: f for f in fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown config key {name!r}")
            current = getattr(self, name)
            if isinstance(current, bool) and not isinstance(value, bool):
                raise ValueError(f"{name} must be a boolean")
            if isinstance(current, int | float) and not isinstance(current, bool):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"{name} must be a number")
                value = type(current)(value)
            setattr(self, name, value)
