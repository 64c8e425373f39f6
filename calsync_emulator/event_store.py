"""Events and the per-calendar change logs: every change to an event is recorded in its calendar's log (which
incremental syncs read) and told to the listeners (push notifications). Instances of a series are generated;
changing one makes it an override, and instances a series loses get a tombstone."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from calsync_emulator import ids, recurrence
from calsync_emulator.event_fields import EVENT_FIELDS, apply_fields
from calsync_emulator.model import Calendar, Event, EventKind, Platform
from calsync_emulator.timeutil import TimeValue, duration, find_zone
from calsync_emulator.world_errors import Conflict, NotFound

if TYPE_CHECKING:
    from calsync_emulator.state import EmulatorState


class EventStore:
    def __init__(self, state: EmulatorState) -> None:
        self._state = state

    def _record(self, cal: Calendar, event: Event, changes: list[tuple[str, str]], change: str) -> None:
        cal.seq += 1
        event.seq = cal.seq
        cal.log.append((cal.seq, event.id))
        if event.kind is not EventKind.GONE:
            changes.append((event.id, change))

    def _emit(self, cal: Calendar, changes: list[tuple[str, str]]) -> None:
        if changes:
            for listener in self._state.listeners:
                listener(cal, changes)

    def create_event(
        self,
        cal: Calendar,
        start: TimeValue,
        end: TimeValue,
        *,
        time_zone: str | None = None,
        recurrence_lines: Iterable[str] = (),
        event_id: str | None = None,
        fields: dict[str, Any] | None = None,
        notify: bool = True,
    ) -> Event:
        now = self._state.now()
        event = self._new_event(cal, start, end, time_zone, tuple(recurrence_lines), event_id, now)
        apply_fields(event, fields or {})
        changes: list[tuple[str, str]] = []
        cal.events[event.id] = event
        self._record(cal, event, changes, "created")
        cal.index(event)
        if notify:
            self._emit(cal, changes)
        return event

    def _new_event(
        self,
        cal: Calendar,
        start: TimeValue,
        end: TimeValue,
        time_zone: str | None,
        lines: tuple[str, ...],
        event_id: str | None,
        now: datetime,
    ) -> Event:
        tz = time_zone or cal.time_zone
        if find_zone(tz) is None:
            raise ValueError(f"unknown time zone {tz!r}")
        if duration(start, end).total_seconds() <= 0:
            raise ValueError("end must be after start")
        event_id = event_id or ids.event_id(self._state.directory.platform_of(cal))
        existing = cal.events.get(event_id)
        if existing is not None and not (existing.deleted and existing.kind is EventKind.SINGLE):
            raise Conflict(f"event {event_id} exists")
        event = Event(
            id=event_id,
            calendar_id=cal.id,
            kind=EventKind.MASTER if lines else EventKind.SINGLE,
            start=start,
            end=end,
            time_zone=tz,
            created=now,
            updated=now,
            recurrence=lines,
            organizer_email=self._state.accounts[cal.account_id].email,
        )
        if lines:
            recurrence.validate(event)
        return event

    def find_event(self, cal: Calendar, event_id: str) -> Event:
        event = cal.events.get(event_id)
        if event is None:
            raise NotFound(f"event {event_id}")
        return event

    def _override_for(self, cal: Calendar, instance_id: str, now: datetime) -> Event | None:
        """Materialize a generated instance as an override (an exception) so it can be changed alone."""
        parts = recurrence.split_instance_id(instance_id)
        if parts is None:
            return None
        master = cal.masters.get(parts[0])
        if master is None:
            return None
        starts, _ = recurrence.starts(master, self._state.horizon())
        for start in starts:
            if recurrence.instance_id(master.id, start) == instance_id:
                inst = recurrence.make_instance(master, start)
                return dataclasses.replace(
                    master,
                    id=instance_id,
                    kind=EventKind.OVERRIDE,
                    start=inst.start,
                    end=inst.end,
                    recurrence=(),
                    master_id=master.id,
                    original_start=start,
                    created=now,
                    expansion=None,
                )
        return None

    def _target(self, cal: Calendar, event_id: str, now: datetime) -> tuple[Event, bool]:
        """(event, is_new_override) for a stored event or a generated instance id."""
        event = cal.events.get(event_id)
        if event is not None and event.kind is not EventKind.GONE:
            return event, False
        override = self._override_for(cal, event_id, now)
        if override is None:
            raise NotFound(f"event {event_id}")
        return override, True

    def update_event(self, cal: Calendar, event_id: str, changes_in: dict[str, Any]) -> Event:
        """Change a single event, a whole series (its master) or one instance (becomes an exception)."""
        now = self._state.now()
        event, is_new = self._target(cal, event_id, now)
        if event.deleted:
            raise NotFound(f"event {event_id} is deleted")
        changes: list[tuple[str, str]] = []
        old_instances = self._instance_map(event) if event.kind is EventKind.MASTER else {}
        if "recurrence" in changes_in and event.kind is not EventKind.MASTER:
            raise ValueError("recurrence can only be changed on a series master")
        if "time_zone" in changes_in and find_zone(changes_in["time_zone"]) is None:
            raise ValueError(f"unknown time zone {changes_in['time_zone']!r}")
        if not is_new:
            cal.unindex(event)
        before = (event.start, event.end, event.recurrence)
        for name in ("start", "end", "time_zone"):
            if name in changes_in:
                setattr(event, name, changes_in[name])
        if "recurrence" in changes_in:
            event.recurrence = tuple(changes_in["recurrence"])
        apply_fields(event, {k: v for k, v in changes_in.items() if k in EVENT_FIELDS})
        try:
            if duration(event.start, event.end).total_seconds() <= 0:
                raise ValueError("end must be after start")
            if event.kind is EventKind.MASTER:
                event.expansion = None
                recurrence.validate(event)
        except ValueError:
            event.start, event.end, event.recurrence = before
            if not is_new:
                cal.index(event)
            raise
        if (event.start, event.end, event.recurrence) != before:
            event.sequence += 1
        event.updated = now
        if is_new:
            cal.events[event.id] = event
        self._record(cal, event, changes, "updated")
        cal.index(event)
        if event.kind is EventKind.MASTER:
            self._tombstone_vanished(cal, event, old_instances, changes, now)
        self._emit(cal, changes)
        return event

    def _instance_map(self, master: Event) -> dict[str, TimeValue]:
        starts, _ = recurrence.starts(master, self._state.horizon())
        return {recurrence.instance_id(master.id, s): s for s in starts}

    def _tombstone_vanished(
        self, cal: Calendar, master: Event, old: dict[str, TimeValue], changes: list[tuple[str, str]], now: datetime
    ) -> None:
        """Instances a series no longer has get a GONE record, so incremental syncs report them removed."""
        new = self._instance_map(master) if not master.deleted else {}
        for instance_id in new:
            stale = cal.events.get(instance_id)
            if stale is not None and stale.kind is EventKind.GONE:
                del cal.events[instance_id]  # the instance is back; its old log entries no longer match
        for instance_id, start in old.items():
            if instance_id in new or instance_id in cal.events:
                continue
            gone = Event(
                id=instance_id,
                calendar_id=cal.id,
                kind=EventKind.GONE,
                start=start,
                end=start,
                time_zone=master.time_zone,
                created=now,
                updated=now,
                deleted=True,
                master_id=master.id,
                original_start=start,
            )
            cal.events[instance_id] = gone
            self._record(cal, gone, changes, "deleted")

    def cancel_event(self, cal: Calendar, event_id: str) -> Event:
        """Google: a cancellation is a deletion (status cancelled). Microsoft: the event lingers with
        isCancelled=true, except a single occurrence, which Outlook removes from its series."""
        if self._state.directory.platform_of(cal) is Platform.GOOGLE:
            return self.delete_event(cal, event_id)
        now = self._state.now()
        event, is_new = self._target(cal, event_id, now)
        if is_new:
            return self.delete_event(cal, event_id)
        if event.deleted:
            raise NotFound(f"event {event_id} is deleted")
        changes: list[tuple[str, str]] = []
        event.ms_cancelled = True
        event.updated = now
        self._record(cal, event, changes, "updated")
        self._emit(cal, changes)
        return event

    def restore_event(self, cal: Calendar, event_id: str) -> Event:
        """Undo the deletion or cancellation of a single event (Google restores it from the bin with its id;
        Outlook re-sends a cancelled meeting): it is live again, reported as updated."""
        event = cal.events.get(event_id)
        if event is None or event.kind is not EventKind.SINGLE:
            raise NotFound(f"event {event_id} (only single events can be restored)")
        if not event.deleted and not event.ms_cancelled:
            raise ValueError(f"event {event_id} is neither deleted nor cancelled")
        changes: list[tuple[str, str]] = []
        event.deleted = False
        event.ms_cancelled = False
        event.updated = self._state.now()
        cal.index(event)
        self._record(cal, event, changes, "updated")
        self._emit(cal, changes)
        return event

    def delete_event(self, cal: Calendar, event_id: str) -> Event:
        now = self._state.now()
        event, is_new = self._target(cal, event_id, now)
        if event.deleted:
            raise NotFound(f"event {event_id} is deleted")
        changes: list[tuple[str, str]] = []
        old_instances = self._instance_map(event) if event.kind is EventKind.MASTER else {}
        if not is_new:
            cal.unindex(event)
        event.deleted = True
        event.updated = now
        if is_new:
            cal.events[event.id] = event
        self._record(cal, event, changes, "deleted")
        if event.kind is EventKind.MASTER:
            for other in list(cal.events.values()):
                if other.kind is EventKind.OVERRIDE and other.master_id == event.id and not other.deleted:
                    cal.unindex(other)
                    other.deleted = True
                    other.updated = now
                    self._record(cal, other, changes, "deleted")
            self._tombstone_vanished(cal, event, old_instances, changes, now)
        self._emit(cal, changes)
        return event

    def move_event(self, cal: Calendar, event_id: str, target: Calendar) -> Event:
        """Move a single event or a whole series to another calendar of the same account. Google keeps
        the id; Graph ids change when an item moves."""
        if target.account_id != cal.account_id or target.id == cal.id:
            raise ValueError("target must be another calendar of the same account")
        event = cal.events.get(event_id)
        if event is None or event.deleted or event.kind not in (EventKind.SINGLE, EventKind.MASTER):
            raise NotFound(f"event {event_id}")
        keep_id = self._state.directory.platform_of(cal) is Platform.GOOGLE
        fields = {name: getattr(event, name) for name in EVENT_FIELDS}
        moved = self.create_event(
            target,
            event.start,
            event.end,
            time_zone=event.time_zone,
            recurrence_lines=event.recurrence,
            event_id=event.id if keep_id else None,
            fields=fields,
        )
        for other in list(cal.events.values()):
            if other.kind is EventKind.OVERRIDE and other.master_id == event.id and not other.deleted:
                assert other.original_start is not None
                copy = dataclasses.replace(
                    other,
                    id=recurrence.instance_id(moved.id, other.original_start),
                    calendar_id=target.id,
                    master_id=moved.id,
                )
                target.events[copy.id] = copy
                changes: list[tuple[str, str]] = []
                self._record(target, copy, changes, "created")
                target.index(copy)
                self._emit(target, changes)
        self.delete_event(cal, event_id)
        return moved
