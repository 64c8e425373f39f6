"""EmulatorState: the whole emulated world, made of parts with one job each.

Routes read it; the control API and seeding change it through its parts, which keep the indexes and the
per-calendar change logs right and tell listeners (push notifications) what changed: `directory` (accounts and
calendars), `grants` (OAuth clients and tokens), `events` (events and change logs), `sync_states` (sync tokens and
delta links) and `push` (channels and subscriptions). Everything runs on the server's event loop thread, so there
is no locking.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from calsync_emulator.clock import Clock, system_clock
from calsync_emulator.config import EmulatorConfig
from calsync_emulator.directory import Directory
from calsync_emulator.event_store import EventStore
from calsync_emulator.faults import FaultInjector
from calsync_emulator.grants import Grants
from calsync_emulator.metrics import RequestMetrics
from calsync_emulator.model import Account, Calendar, GoogleChannel, GraphSubscription
from calsync_emulator.push_registry import PushRegistry
from calsync_emulator.sync_state import SyncStates

# (calendar, [(event id, change type created|updated|deleted)]) -> None
ChangeListener = Callable[[Calendar, list[tuple[str, str]]], None]


class EmulatorState:
    def __init__(self, clock: Clock = system_clock, config: EmulatorConfig | None = None, seed: int = 0) -> None:
        self._clock = clock
        self._offset = timedelta(0)
        self._seed = seed
        self.listeners: list[ChangeListener] = []
        self.config = config or EmulatorConfig()
        self._init_world()

    def _init_world(self) -> None:
        self.directory = Directory(self)
        self.grants = Grants(self)
        self.events = EventStore(self)
        self.sync_states = SyncStates(self)
        self.push = PushRegistry(self.now)
        self.faults = FaultInjector(self._seed)
        self.metrics = RequestMetrics(self.config.request_log_size)

    def reset(self) -> None:
        """Forget every account, token, channel, fault and counter, and return to the configured defaults."""
        self.config = EmulatorConfig()
        self._offset = timedelta(0)
        self._init_world()

    @property
    def accounts(self) -> dict[str, Account]:
        return self.directory.accounts

    @property
    def calendars(self) -> dict[str, Calendar]:
        return self.directory.calendars

    # --- time -------------------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self._clock() + self._offset

    def advance(self, seconds: float) -> datetime:
        """Move emulated time forward (token, channel and subscription expiry follow it)."""
        self._offset += timedelta(seconds=seconds)
        return self.now()

    def horizon(self) -> datetime:
        return self.now() + timedelta(days=self.config.recurrence_horizon_days)

    # --- what notifications.py reads (its HTTP client is being replaced; it keeps calling these) -----------

    @property
    def subscriptions(self) -> dict[str, GraphSubscription]:
        return self.push.subscriptions

    def live_channels(self, calendar_id: str) -> list[GoogleChannel]:
        return self.push.live_channels(calendar_id)

    def live_subscriptions(self, cal: Calendar) -> list[GraphSubscription]:
        return self.push.live_subscriptions(cal)
