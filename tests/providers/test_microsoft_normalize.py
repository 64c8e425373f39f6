"""Graph event → NormalizedEvent: 7-digit fractions, all-day dates, cancellation, people, locations, meeting links."""

from __future__ import annotations

from datetime import UTC, datetime

from calsync.providers.microsoft_normalize import normalize_event
from calsync.providers.normalize import MAX_RAW_TEXT_CHARS

TEAMS = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_ABC%40thread.v2/0?context=%7b%22Tid%22%3a%22t%22%2c%22Oid%22%3a%22o%22%7d"


def _event(**fields: object) -> dict[str, object]:
    return {
        "@odata.etag": 'W/"DwAAABYAAAA"',
        "id": "AAMkAGI2TGuLAAA=",
        "iCalUId": "040000008200E00074C5B7101A82E008",
        "subject": "Planning",
        "isAllDay": False,
        "isCancelled": False,
        "start": {"dateTime": "2026-03-02T08:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-03-02T08:30:00.1234567", "timeZone": "UTC"},
        "originalStartTimeZone": "W. Europe Standard Time",
        "webLink": "https://outlook.office365.com/owa/?itemid=AAMk&exvsurl=1&path=/calendar/item",
        **fields,
    }


def test_timed_event_with_seven_digit_fractions() -> None:
    event = normalize_event(_event(seriesMasterId="AAMkMaster"))
    assert event is not None
    assert event.start_time == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    assert event.end_time == datetime(2026, 3, 2, 8, 30, 0, 123456, tzinfo=UTC)
    assert (event.is_all_day, event.is_deleted, event.status) == (False, False, "confirmed")
    assert event.time_zone == "W. Europe Standard Time"  # the event's own zone, as Graph names it
    assert (event.ical_uid, event.recurring_event_id) == ("040000008200E00074C5B7101A82E008", "AAMkMaster")
    assert event.html_link is not None and event.html_link.startswith("https://outlook.office365.com/")


def test_zone_named_next_to_the_time_is_honoured() -> None:
    event = normalize_event(_event(start={"dateTime": "2026-07-01T09:00:00.0000000", "timeZone": "America/New_York"}))
    assert event is not None and event.start_time == datetime(2026, 7, 1, 13, 0, tzinfo=UTC)


def test_all_day_keeps_its_date() -> None:
    event = normalize_event(
        _event(
            isAllDay=True,
            start={"dateTime": "2026-03-02T00:00:00.0000000", "timeZone": "UTC"},
            end={"dateTime": "2026-03-03T00:00:00.0000000", "timeZone": "UTC"},
            originalStartTimeZone="Pacific/Kiritimati",
        )
    )
    assert event is not None
    assert event.is_all_day
    assert (event.start_time, event.end_time) == (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC))
    assert event.time_zone == "Pacific/Kiritimati"


def test_all_day_converted_to_utc_is_brought_back_to_its_date() -> None:
    # Midnight Berlin (UTC+1) of 2 March shown in UTC is 1 March 23:00: the date must still be 2 March.
    event = normalize_event(
        _event(
            isAllDay=True,
            start={"dateTime": "2026-03-01T23:00:00.0000000", "timeZone": "UTC"},
            end={"dateTime": "2026-03-02T23:00:00.0000000", "timeZone": "UTC"},
            originalStartTimeZone="Europe/Berlin",
        )
    )
    assert event is not None
    assert (event.start_time, event.end_time) == (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC))
    # Without a resolvable zone, the nearest date still wins.
    windows = normalize_event(
        _event(
            isAllDay=True,
            start={"dateTime": "2026-03-01T23:00:00.0000000", "timeZone": "UTC"},
            originalStartTimeZone="W. Europe Standard Time",
        )
    )
    assert windows is not None and windows.start_time == datetime(2026, 3, 2, tzinfo=UTC)


def test_custom_zone_falls_back_to_the_time_zone_field() -> None:
    event = normalize_event(_event(originalStartTimeZone="tzone://Microsoft/Custom"))
    assert event is not None and event.time_zone == "UTC"


def test_cancelled_meeting_is_deleted() -> None:
    event = normalize_event(_event(isCancelled=True))
    assert event is not None and event.is_deleted and event.status == "cancelled"


def test_attendees_organizer_and_self() -> None:
    event = normalize_event(
        _event(
            isOrganizer=True,
            organizer={"emailAddress": {"name": "Boss", "address": "Boss@Contoso.com"}},
            attendees=[
                {
                    "type": "required",
                    "status": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
                    "emailAddress": {"name": "Boss", "address": "boss@contoso.com"},
                },
                {
                    "type": "required",
                    "status": {"response": "accepted"},
                    "emailAddress": {"name": "A", "address": "a@contoso.com"},
                },
                {
                    "type": "optional",
                    "status": {"response": "tentativelyAccepted"},
                    "emailAddress": {"address": "b@contoso.com"},
                },
                {"type": "required", "status": {"response": "declined"}, "emailAddress": {"address": "c@contoso.com"}},
                {"type": "required", "status": {"response": "none"}, "emailAddress": {"address": "d@contoso.com"}},
                {
                    "type": "required",
                    "status": {"response": "notResponded"},
                    "emailAddress": {"address": "e@contoso.com"},
                },
                {"type": "resource", "emailAddress": {"address": "room@contoso.com"}},
                None,
            ],
        )
    )
    assert event is not None
    assert event.organizer == {"email": "Boss@Contoso.com", "name": "Boss"}
    assert event.organizer_is_owner, "isOrganizer: the mailbox's owner organizes it"
    assert [(a.email, a.response_status, a.is_organizer, a.is_self) for a in event.attendees] == [
        ("boss@contoso.com", "accepted", True, True),
        ("a@contoso.com", "accepted", False, False),
        ("b@contoso.com", "tentative", False, False),
        ("c@contoso.com", "declined", False, False),
        ("d@contoso.com", "needs_action", False, False),
        ("e@contoso.com", "needs_action", False, False),
        ("room@contoso.com", None, False, False),
    ]


def test_location_from_location_or_locations() -> None:
    single = normalize_event(_event(location={"displayName": "Room 1", "locationType": "default"}))
    assert single is not None and single.location == "Room 1"
    many = normalize_event(
        _event(location={"displayName": ""}, locations=[{"displayName": "Room 1"}, {"displayName": "Room 2"}])
    )
    assert many is not None and many.location == "Room 1; Room 2"
    long = normalize_event(_event(location={"displayName": "x" * 3000}, subject="s" * 3000))
    assert long is not None and long.location == "x" * 1024 and long.name == "s" * 1024


def test_meeting_url_priority() -> None:
    event = normalize_event(
        _event(
            onlineMeeting={"joinUrl": TEAMS},
            onlineMeetingUrl="https://join.skype.com/abc",
            location={"displayName": "https://zoom.us/j/5551112222"},
            body={"contentType": "html", "content": "<a href='https://meet.google.com/abc-defg-hij'>Join</a>"},
        )
    )
    assert event is not None and event.meeting_url == TEAMS and event.meeting_platform == "microsoft_teams"


def test_meeting_url_in_location_is_scanned() -> None:
    # Attendee never scanned the Microsoft location.
    event = normalize_event(
        _event(
            location={"displayName": "Zoom https://zoom.us/j/5551112222"},
            body={"contentType": "text", "content": "agenda"},
        )
    )
    assert event is not None and event.meeting_url == "https://zoom.us/j/5551112222"
    in_locations = normalize_event(
        _event(locations=[{"displayName": "Room"}, {"displayName": "https://zoom.us/j/5551112222"}])
    )
    assert in_locations is not None and in_locations.meeting_url == "https://zoom.us/j/5551112222"


def test_meeting_url_in_html_body_and_subject() -> None:
    body = normalize_event(
        _event(
            body={
                "contentType": "html",
                "content": f'<p><a href="{TEAMS.replace("&", "&amp;")}">Join the meeting now</a></p>',
            }
        )
    )
    assert body is not None and body.meeting_platform == "microsoft_teams"
    subject = normalize_event(_event(subject="Call https://meet.google.com/abc-defg-hij"))
    assert subject is not None and subject.meeting_platform == "google_meet"


def test_raw_body_is_cut() -> None:
    event = normalize_event(_event(body={"contentType": "html", "content": "b" * 20000}))
    assert event is not None
    assert event.raw["body"]["content"] == "b" * MAX_RAW_TEXT_CHARS
    assert event.raw["body"]["contentType"] == "html"


def test_malformed_events_do_not_crash() -> None:
    assert normalize_event({"subject": "no id"}) is None
    broken = normalize_event(
        {"id": "x", "start": {"dateTime": "garbage"}, "isAllDay": True, "end": 1, "organizer": "x", "body": 2}
    )
    assert broken is not None
    assert (broken.start_time, broken.end_time, broken.organizer, broken.meeting_url) == (None, None, None, None)
    assert not broken.organizer_is_owner
