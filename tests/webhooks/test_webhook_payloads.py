"""The envelope is Attendee's exactly; our additions live inside `data`."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from calsync.webhooks.payloads import (
    EVENTS_UPDATE,
    STATE_CHANGE,
    CalendarRef,
    CalendarSnapshot,
    EventChanges,
    build_envelope,
    changes_object,
    events_update_data,
    format_timestamp,
    state_change_data,
)
from calsync.webhooks.signing import canonical_json

ANCHOR_ENVELOPE_KEYS = {
    "idempotency_key",
    "calendar_id",
    "calendar_deduplication_key",
    "calendar_metadata",
    "trigger",
    "data",
}
ANCHOR_DATA_KEYS = {"state", "connection_failure_data", "last_successful_sync_at", "last_attempted_sync_at"}

CAL = CalendarRef(id="cal_abcdefghijklmnop", deduplication_key="team-1", metadata={"owner": "ana"})
SNAP = CalendarSnapshot(
    state="connected",
    last_successful_sync_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    last_attempted_sync_at=datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
)


def test_events_update_envelope_exact_shape():
    changes = EventChanges(
        created=["evt_a"],
        updated={"evt_b": ["start_time", "end_time", "start_time"], "evt_c": ["attendees"]},
        deleted=["evt_d"],
    )
    envelope = build_envelope(
        idempotency_key="k-1", trigger=EVENTS_UPDATE, data=events_update_data(SNAP, changes), calendar=CAL
    )
    assert set(envelope) == ANCHOR_ENVELOPE_KEYS
    assert set(envelope["data"]) == ANCHOR_DATA_KEYS | {"changes"}
    assert envelope == {
        "idempotency_key": "k-1",
        "calendar_id": "cal_abcdefghijklmnop",
        "calendar_deduplication_key": "team-1",
        "calendar_metadata": {"owner": "ana"},
        "trigger": "calendar.events_update",
        "data": {
            "state": "connected",
            "connection_failure_data": None,
            "last_successful_sync_at": "2026-01-02T03:04:05.000000Z",
            "last_attempted_sync_at": "2026-01-02T03:04:05.123456Z",
            "changes": {
                "created": {"count": 1, "ids": ["evt_a"]},
                "updated": {
                    "count": 2,
                    "ids": ["evt_b", "evt_c"],
                    "fields": {"evt_b": ["end_time", "start_time"], "evt_c": ["attendees"]},
                },
                "deleted": {"count": 1, "ids": ["evt_d"]},
                "truncated": False,
            },
        },
    }
    canonical_json(envelope)  # JSON-serialisable as is


def test_state_change_envelope_exact_shape():
    failure = {"error": "Google Authentication error: invalid_grant", "timestamp": "2026-01-02T03:04:05Z"}
    snap = CalendarSnapshot(state="disconnected", connection_failure_data=failure)
    envelope = build_envelope(
        idempotency_key="k-2",
        trigger=STATE_CHANGE,
        data=state_change_data(snap, previous_state="connected"),
        calendar=CalendarRef(id="cal_x"),
    )
    assert set(envelope) == ANCHOR_ENVELOPE_KEYS
    assert envelope["calendar_deduplication_key"] is None and envelope["calendar_metadata"] is None
    assert envelope["data"] == {
        "state": "disconnected",
        "connection_failure_data": failure,
        "last_successful_sync_at": None,
        "last_attempted_sync_at": None,
        "previous_state": "connected",
    }


def test_deleted_calendar_omits_calendar_keys_like_the_anchor():
    envelope = build_envelope(
        idempotency_key="k", trigger=STATE_CHANGE, data=state_change_data(SNAP, None), calendar=None
    )
    assert set(envelope) == {"idempotency_key", "trigger", "data"}


def test_unknown_trigger_rejected():
    with pytest.raises(ValueError):
        build_envelope(idempotency_key="k", trigger="calendar.created", data={}, calendar=CAL)


def test_truncation_keeps_counts_exact_and_is_fair():
    changes = EventChanges(
        created=[f"evt_c{i}" for i in range(5000)],
        updated={f"evt_u{i}": ["meeting_url"] for i in range(300)},
        deleted=[f"evt_d{i}" for i in range(10)],
    )
    obj = changes_object(changes, max_ids=1000)
    assert obj["truncated"] is True
    assert (obj["created"]["count"], obj["updated"]["count"], obj["deleted"]["count"]) == (5000, 300, 10)
    # Small lists are listed whole; the huge one gets what is left.
    assert len(obj["deleted"]["ids"]) == 10
    assert len(obj["updated"]["ids"]) == 300
    assert len(obj["created"]["ids"]) == 690
    assert set(obj["updated"]["fields"]) == set(obj["updated"]["ids"])
    assert obj["created"]["ids"][:2] == ["evt_c0", "evt_c1"]


def test_truncation_when_every_list_is_large():
    changes = EventChanges(
        created=[f"c{i}" for i in range(2000)],
        updated={f"u{i}": ["start_time"] for i in range(2000)},
        deleted=[f"d{i}" for i in range(2000)],
    )
    obj = changes_object(changes, max_ids=1000)
    sizes = [len(obj[k]["ids"]) for k in ("created", "updated", "deleted")]
    assert sum(sizes) == 1000 and max(sizes) - min(sizes) <= 1
    assert len(obj["updated"]["fields"]) == sizes[1]


def test_exactly_at_cap_is_not_truncated():
    changes = EventChanges(created=[f"c{i}" for i in range(600)], deleted=[f"d{i}" for i in range(400)])
    obj = changes_object(changes, max_ids=1000)
    assert obj["truncated"] is False and len(obj["created"]["ids"]) == 600 and len(obj["deleted"]["ids"]) == 400


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC), "2026-03-04T05:06:07.000000Z"),
        (datetime(2026, 3, 4, 7, 6, 7, 5, tzinfo=timezone(timedelta(hours=2))), "2026-03-04T05:06:07.000005Z"),
        (datetime(2026, 3, 4, 5, 6, 7, 890000), "2026-03-04T05:06:07.890000Z"),  # naive = UTC
        (None, None),
    ],
)
def test_timestamps_are_utc_with_microseconds_and_z(value, expected):
    assert format_timestamp(value) == expected
