"""NormalizedEvent → column values, and the digest that tells whether a stored event really changed."""

from __future__ import annotations

import hashlib
from typing import Any

from calsync import json_codec
from calsync.providers.base import NormalizedEvent
from calsync.store.duration_classes import span_class

# Keys of `raw` that change on every touch without the event changing (etags, modification stamps).
_VOLATILE_RAW_KEYS = frozenset(
    {"etag", "updated", "sequence", "@odata.etag", "changeKey", "lastModifiedDateTime", "createdDateTime"}
)

# Fields whose change a webhook reports by name (a bot scheduler acts on these).
TRACKED_FIELDS = (
    "start_time",
    "end_time",
    "meeting_url",
    "attendees",
    "is_deleted",
    "name",
    "location",
    "status",
    "is_all_day",
    "organizer",
)


# Columns derived from others: left out of the digest, so that adding one never makes stored events "changed".
_DERIVED_COLUMNS = ("span_class",)


def event_values(event: NormalizedEvent) -> dict[str, Any]:
    """Column values for a live event (times are required for storage)."""
    assert event.start_time is not None and event.end_time is not None
    # A stored event never ends before it starts (a platform can send such a body; neither platform lets one be
    # created): the events API derives bounds on one time column from the other and relies on it.
    end_time = max(event.end_time, event.start_time)
    return {
        "platform_uuid": event.platform_uuid,
        "name": event.name,
        "start_time": event.start_time,
        "end_time": end_time,
        "span_class": span_class(event.start_time, end_time),
        "is_all_day": event.is_all_day,
        "time_zone": event.time_zone[:64] if event.time_zone else None,
        "is_deleted": event.is_deleted,
        "status": event.status,
        "location": event.location,
        "meeting_url": event.meeting_url[:2048] if event.meeting_url else None,
        "meeting_platform": event.meeting_platform,
        "organizer": event.organizer,
        "attendees": [
            {
                "email": a.email,
                "name": a.name,
                "response_status": a.response_status,
                "is_organizer": a.is_organizer,
                "is_self": a.is_self,
            }
            for a in event.attendees
        ],
        "ical_uid": event.ical_uid[:1024] if event.ical_uid else None,
        "recurring_event_id": event.recurring_event_id[:1024] if event.recurring_event_id else None,
        "html_link": event.html_link[:2048] if event.html_link else None,
        "raw": event.raw,
    }


def content_hash(values: dict[str, Any]) -> str:
    # Copies minus a few keys (the digest is of the same documents in the same key order as ever: stored digests
    # stay valid); deleting from a C-level copy is cheaper than filtering every key in Python.
    stable = dict(values)
    for key in _DERIVED_COLUMNS:
        stable.pop(key, None)
    raw = stable.get("raw")
    if isinstance(raw, dict) and (volatile := _VOLATILE_RAW_KEYS.intersection(raw)):
        raw = dict(raw)
        for key in volatile:
            del raw[key]
        stable["raw"] = raw
    # Key order is deterministic (values are built in a fixed order, raw keeps the platform's order), so no
    # sort_keys: at worst a platform reordering its JSON causes one harmless rewrite.
    return hashlib.sha256(json_codec.dumps(stable)).hexdigest()


def changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [name for name in TRACKED_FIELDS if old.get(name) != new.get(name)]
