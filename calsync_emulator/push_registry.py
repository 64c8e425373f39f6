"""Google watch channels and Graph subscriptions, indexed by calendar.

Every change looks up its calendar's channels, so with thousands of channels a change must not scan them all.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from calsync_emulator.model import Calendar, GoogleChannel, GraphSubscription


def resource_id_of(calendar_id: str) -> str:
    """A Google channel's resourceId: the watched collection's id, the same for every channel on that calendar."""
    return hashlib.sha1(calendar_id.encode(), usedforsecurity=False).hexdigest()[:27]


class PushRegistry:
    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self.channels: dict[str, GoogleChannel] = {}
        self.subscriptions: dict[str, GraphSubscription] = {}
        self._channels_by_calendar: dict[str, dict[str, GoogleChannel]] = {}
        self._subscriptions_by_calendar: dict[str, dict[str, GraphSubscription]] = {}

    def add_channel(self, channel: GoogleChannel) -> None:
        old = self.channels.get(channel.id)
        if old is not None:
            self._channels_by_calendar.get(old.calendar_id, {}).pop(old.id, None)
        self.channels[channel.id] = channel
        self._channels_by_calendar.setdefault(channel.calendar_id, {})[channel.id] = channel

    def live_channels(self, calendar_id: str) -> list[GoogleChannel]:
        """Channels on a calendar that still notify; stopped and expired ones leave the index."""
        now = self._now()
        index = self._channels_by_calendar.get(calendar_id, {})
        for dead in [c.id for c in index.values() if c.stopped or c.expiration <= now]:
            del index[dead]
        return list(index.values())

    def add_subscription(self, sub: GraphSubscription) -> None:
        self.subscriptions[sub.id] = sub
        self._subscriptions_by_calendar.setdefault(sub.calendar_id, {})[sub.id] = sub

    def remove_subscription(self, sub: GraphSubscription) -> None:
        self.subscriptions.pop(sub.id, None)
        self._subscriptions_by_calendar.get(sub.calendar_id, {}).pop(sub.id, None)

    def live_subscriptions(self, cal: Calendar) -> list[GraphSubscription]:
        """Subscriptions covering a calendar; expired ones are deleted, as Graph does."""
        now = self._now()
        index = self._subscriptions_by_calendar.get(cal.id, {})
        for expired in [s for s in index.values() if s.expiration <= now]:
            self.remove_subscription(expired)
        return list(index.values())

    def copy(
        self, calendars: Mapping[str, Calendar], source_id: str, target_id: str, new_id: str
    ) -> list[dict[str, Any]]:
        """The live channels and subscriptions of calendar `source_id`, copied onto `target_id` with id `new_id`."""
        source, target = calendars.get(source_id), calendars.get(target_id)
        if source is None or target is None:
            raise LookupError(f"calendar {source_id if source is None else target_id}")
        out: list[dict[str, Any]] = []
        for channel in self.live_channels(source.id):
            resource_id = resource_id_of(target.id)
            self.add_channel(
                dataclasses.replace(
                    channel, id=new_id, resource_id=resource_id, account_id=target.account_id, calendar_id=target.id,
                    resource_uri=channel.resource_uri.replace(source.id, target.id), message_number=1,
                )
            )  # fmt: skip
            out.append({"kind": "channel", "id": new_id, "resource_id": resource_id, "calendar_id": target.id})
        for sub in self.live_subscriptions(source):
            self.add_subscription(
                dataclasses.replace(
                    sub, id=new_id, account_id=target.account_id, calendar_id=target.id, created=self._now()
                )
            )
            out.append({"kind": "subscription", "id": new_id, "resource_id": None, "calendar_id": target.id})
        return out

    def forget_calendar(self, calendar_id: str) -> None:
        """A deleted calendar: its channels stop and its subscriptions go."""
        for channel in self._channels_by_calendar.pop(calendar_id, {}).values():
            channel.stopped = True
        for sub in list(self._subscriptions_by_calendar.get(calendar_id, {}).values()):
            self.remove_subscription(sub)
