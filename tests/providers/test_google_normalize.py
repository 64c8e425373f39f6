"""Google Event → NormalizedEvent: times, all-day dates, tombstones, people, bounds, meeting links."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from calsync.providers.google_normalize import normalize_event
from calsync.providers.normalize import MAX_RAW_BYTES, MAX_RAW_TEXT_CHARS, TRUNCATED_KEY


def _event(**fields: object) -> dict[str, object]:
    return {
        "kind": "calendar#event",
        "id": "evt1",
        "status": "confirmed",
        "summary": "Standup",
        "start": {"dateTime": "2026-03-02T09:00:00+01:00", "timeZone": "Europe/Zurich"},
        "end": {"dateTime": "2026-03-02T09:30:00+01:00", "timeZone": "Europe/Zurich"},
        **fields,
    }


def test_timed_event_is_utc() -> None:
    event = normalize_event(_event(iCalUID="uid@google.com", htmlLink="https://www.google.com/calendar/event?eid=x"))
    assert event is not None
    assert event.start_time == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    assert event.end_time == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    assert event.start_time.tzinfo is UTC
    assert (event.is_all_day, event.time_zone, event.status, event.is_deleted) == (
        False,
        "Europe/Zurich",
        "confirmed",
        False,
    )
    assert (event.name, event.ical_uid, event.html_link) == (
        "Standup",
        "uid@google.com",
        "https://www.google.com/calendar/event?eid=x",
    )


def test_offsetless_date_time_is_read_in_its_zone_then_calendar_zone() -> None:
    own = normalize_event(_event(start={"dateTime": "2026-07-01T09:00:00", "timeZone": "America/New_York"}))
    assert own is not None and own.start_time == datetime(2026, 7, 1, 13, 0, tzinfo=UTC)
    calendar = normalize_event(_event(start={"dateTime": "2026-07-01T09:00:00"}), calendar_time_zone="Asia/Tokyo")
    assert calendar is not None and calendar.start_time == datetime(2026, 7, 1, 0, 0, tzinfo=UTC)
    assert calendar.time_zone == "Asia/Tokyo"


def test_all_day_keeps_its_date_whatever_the_zone() -> None:
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago", "Europe/Zurich", None):
        event = normalize_event(
            _event(start={"date": "2026-03-02"}, end={"date": "2026-03-03"}), calendar_time_zone=zone
        )
        assert event is not None
        assert event.is_all_day
        assert event.start_time == datetime(2026, 3, 2, tzinfo=UTC)
        assert event.end_time == datetime(2026, 3, 3, tzinfo=UTC)  # exclusive end
        assert event.time_zone == zone


def test_all_day_time_zone_prefers_the_event() -> None:
    event = normalize_event(
        _event(start={"date": "2026-03-02", "timeZone": "Europe/Paris"}, end={"date": "2026-03-04"}),
        calendar_time_zone="Asia/Tokyo",
    )
    assert event is not None and event.time_zone == "Europe/Paris"
    assert event.end_time == datetime(2026, 3, 4, tzinfo=UTC)


def test_cancelled_id_only_stub_is_a_tombstone() -> None:
    event = normalize_event({"id": "gone1", "status": "cancelled"})
    assert event is not None
    assert (event.platform_uuid, event.is_deleted, event.status) == ("gone1", True, "cancelled")
    assert event.start_time is None and event.end_time is None and event.attendees == []


def test_cancelled_exception_of_a_series_keeps_instance_identity() -> None:
    stub = {
        "id": "series1_20260302T080000Z",
        "status": "cancelled",
        "recurringEventId": "series1",
        "originalStartTime": {"dateTime": "2026-03-02T09:00:00+01:00", "timeZone": "Europe/Zurich"},
    }
    event = normalize_event(stub)
    assert event is not None
    assert event.is_deleted and event.recurring_event_id == "series1"
    assert event.start_time == datetime(2026, 3, 2, 8, tzinfo=UTC)


def test_full_cancelled_event_is_deleted_with_its_data() -> None:
    event = normalize_event(_event(status="cancelled"))
    assert event is not None and event.is_deleted and event.start_time is not None


def test_attendees_and_organizer() -> None:
    event = normalize_event(
        _event(
            organizer={"email": "boss@example.com", "displayName": "Boss", "self": True},
            attendees=[
                {
                    "email": "boss@example.com",
                    "displayName": "Boss",
                    "organizer": True,
                    "self": True,
                    "responseStatus": "accepted",
                },
                {"email": "a@example.com", "responseStatus": "needsAction"},
                {"email": "b@example.com", "responseStatus": "declined"},
                {"email": "c@example.com", "responseStatus": "tentative"},
                {"email": "room@resource.calendar.google.com", "resource": True},
                "garbage",
            ],
        )
    )
    assert event is not None
    assert event.organizer == {"email": "boss@example.com", "name": "Boss"}
    assert event.organizer_is_owner, "organizer.self: the calendar's owner organizes it"
    assert [(a.email, a.response_status, a.is_organizer, a.is_self) for a in event.attendees] == [
        ("boss@example.com", "accepted", True, True),
        ("a@example.com", "needs_action", False, False),
        ("b@example.com", "declined", False, False),
        ("c@example.com", "tentative", False, False),
        ("room@resource.calendar.google.com", None, False, False),
    ]


def test_status_is_one_of_three() -> None:
    tentative = normalize_event(_event(status="tentative"))
    odd = normalize_event(_event(status="weird"))
    missing = normalize_event({k: v for k, v in _event().items() if k != "status"})
    assert tentative is not None and odd is not None and missing is not None
    assert (tentative.status, odd.status, missing.status) == ("tentative", "confirmed", "confirmed")


def test_name_and_location_are_truncated() -> None:
    event = normalize_event(_event(summary="n" * 5000, location="l" * 5000))
    assert event is not None
    assert event.name == "n" * 1024 and event.location == "l" * 1024


def test_raw_text_is_cut_and_raw_is_bounded() -> None:
    event = normalize_event(_event(description="d" * 20000))
    assert event is not None
    assert event.raw["description"] == "d" * MAX_RAW_TEXT_CHARS
    assert event.raw["summary"] == "Standup"
    assert TRUNCATED_KEY not in event.raw

    crowd = [
        {"email": f"person{i}@example.com", "displayName": f"Person {i}", "responseStatus": "accepted"}
        for i in range(2000)
    ]
    big = normalize_event(_event(attendees=crowd, description="d" * 20000))
    assert big is not None
    assert len(json.dumps(big.raw, ensure_ascii=False, separators=(",", ":")).encode()) <= MAX_RAW_BYTES
    assert big.raw[TRUNCATED_KEY] == ["attendees"]
    assert big.raw["id"] == "evt1" and big.raw["start"]
    assert len(big.attendees) == 2000  # only raw is bounded, the normalized attendees are complete


def test_trimming_raw_never_modifies_the_platform_payload() -> None:
    # raw shares untouched sub-objects with the payload (copying them all was the largest cost of a sync);
    # only the dicts along a trimmed path are copied, so the payload itself stays as received.
    item = _event(description="x" * 9000)
    event = normalize_event(item)
    assert event is not None
    assert len(event.raw["description"]) == 8000
    assert len(item["description"]) == 9000  # type: ignore[arg-type]


def test_meeting_url_priority_conference_data_first() -> None:
    event = normalize_event(
        _event(
            conferenceData={
                "entryPoints": [
                    {"entryPointType": "phone", "uri": "tel:+1-555-0100"},
                    {
                        "entryPointType": "video",
                        "uri": "https://meet.google.com/abc-defg-hij",
                        "label": "meet.google.com/abc-defg-hij",
                    },
                ],
                "conferenceSolution": {"key": {"type": "hangoutsMeet"}},
            },
            hangoutLink="https://meet.google.com/zzz-zzzz-zzz",
            description="Join https://zoom.us/j/5551112222",
        )
    )
    assert event is not None
    assert event.meeting_url == "https://meet.google.com/abc-defg-hij"
    assert event.meeting_platform == "google_meet"


def test_meeting_url_falls_back_through_location_description_summary() -> None:
    location = normalize_event(
        _event(
            location="https://us02web.zoom.us/j/85512345678?pwd=abc", description="https://meet.google.com/abc-defg-hij"
        )
    )
    assert location is not None and location.meeting_url == "https://us02web.zoom.us/j/85512345678?pwd=abc"
    assert location.meeting_platform == "zoom"
    summary = normalize_event(_event(summary="Sync https://teams.microsoft.com/meet/1234567890123?p=Aa1Bb2Cc3Dd4Ee5"))
    assert summary is not None and summary.meeting_platform == "microsoft_teams"
    none = normalize_event(_event(description="no link here"))
    assert none is not None and (none.meeting_url, none.meeting_platform) == (None, None)


def test_meeting_url_found_beyond_the_raw_cut() -> None:
    event = normalize_event(_event(description="x" * 9000 + " https://zoom.us/j/5551112222"))
    assert event is not None and event.meeting_url == "https://zoom.us/j/5551112222"


def test_malformed_events_do_not_crash() -> None:
    assert normalize_event({"summary": "no id"}) is None
    assert normalize_event({"id": 5}) is None
    broken = normalize_event(
        {"id": "x", "start": {"dateTime": "not a date"}, "end": "nope", "attendees": "nope", "organizer": 3}
    )
    assert broken is not None
    assert (broken.start_time, broken.end_time, broken.attendees, broken.organizer) == (None, None, [], None)
    assert not broken.organizer_is_owner
    no_end = normalize_event(_event(end=None))
    assert no_end is not None and no_end.end_time == no_end.start_time
