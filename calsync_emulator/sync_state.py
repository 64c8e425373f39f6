"""Sync tokens and delta links: what they record of a calendar, whether one is still valid, and invalidating them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from calsync_emulator.model import Account, Calendar

if TYPE_CHECKING:
    from calsync_emulator.state import EmulatorState


class SyncStates:
    def __init__(self, state: EmulatorState) -> None:
        self._state = state

    def stamp(self, cal: Calendar) -> dict[str, Any]:
        """What a sync token / delta link records to be checked later: calendar, epoch, issue time."""
        return {"c": cal.id, "e": cal.epoch, "at": int(self._state.now().timestamp())}

    def valid(self, cal: Calendar, payload: dict[str, Any] | None) -> bool:
        if payload is None or payload.get("c") != cal.id or payload.get("e") != cal.epoch:
            return False
        ttl = self._state.config.sync_token_ttl_seconds
        return ttl <= 0 or self._state.now().timestamp() - float(payload.get("at", 0)) <= ttl

    def invalidate(self, account: Account, calendar_id: str | None = None) -> None:
        """Every sync token / delta link issued so far for these calendars now gets 410."""
        for cal in account.calendars.values():
            if calendar_id is None or cal.id == calendar_id:
                cal.epoch += 1
