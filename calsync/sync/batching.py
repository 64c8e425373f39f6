"""Consecutive pages of one listing merged into one write.

Graph pages hold 100 events, so a 500-event calendar was six transactions, each taking the project's change
clock and committing on its own. Merging pages up to `APPLY_BATCH_EVENTS` writes the same rows in fewer,
larger transactions (bench/initial_sync.py) while the memory held stays bounded."""

from __future__ import annotations

from collections.abc import Iterable

from calsync.providers.base import NormalizedEvent

# Events (and removals) buffered before a write. Google already sends up to 2,500 per page; such a page is
# written as it comes.
APPLY_BATCH_EVENTS = 1000


class ChangeBatch:
    """Pages merged in order: a later page's version of an event replaces an earlier one, a later removal
    removes an event an earlier page listed, and a later listing revives an id an earlier page removed.
    Within one page an event listed and removed counts as listed, as `apply.plan_page` treats a single page."""

    def __init__(self) -> None:
        self._items: dict[str, NormalizedEvent | None] = {}

    def add(self, events: Iterable[NormalizedEvent], removed_ids: Iterable[str]) -> None:
        for uuid in removed_ids:
            self._items.pop(uuid, None)
            self._items[uuid] = None
        for event in events:
            self._items.pop(event.platform_uuid, None)
            self._items[event.platform_uuid] = event

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        return len(self._items) >= APPLY_BATCH_EVENTS

    def take(self) -> tuple[list[NormalizedEvent], list[str]]:
        """(events, removed ids) in the order last seen, and empty the batch."""
        events = [event for event in self._items.values() if event is not None]
        removed = [uuid for uuid, event in self._items.items() if event is None]
        self._items = {}
        return events, removed
