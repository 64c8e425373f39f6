"""The services one calsync process shares (database, secrets, clock, wake-up signal, the features' hooks), built once
at start by the composition root (calsync.runtime)."""

from __future__ import annotations

from dataclasses import dataclass, field

from calsync.clock import Clock, system_clock
from calsync.hooks import Hooks
from calsync.security.secret_box import SecretBox, load_secret_box
from calsync.settings import Settings
from calsync.store.db import Database
from calsync.store.work_signal import WorkSignal


@dataclass
class AppContext:
    settings: Settings
    db: Database
    secrets: SecretBox
    clock: Clock = system_clock
    work_signal: WorkSignal = field(default_factory=WorkSignal)
    # Empty unless the composition root registered the features: the core then runs alone.
    hooks: Hooks = field(default_factory=Hooks)

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = system_clock) -> AppContext:
        return cls(
            settings=settings, db=Database.from_settings(settings), secrets=load_secret_box(settings), clock=clock
        )

    async def aclose(self) -> None:
        await self.db.dispose()
