"""iCalendar parsing and window expansion → NormalizedEvent, on fixtures covering recurrence, zones, all-day
events, attendees, meeting URLs and malformed input."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from calsync.providers.base import NormalizedEvent
from calsync.providers.ical import expand_calendar, parse_calendar
from calsync.providers.ical.expand import Expansion

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 12, 31, tzinfo=UTC)


def cal(*components: str, header: str = "") -> str:
    return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n" + header + "".join(components) + "END:VCALENDAR\r\n"


def ev(body: str) -> str:
    return "BEGIN:VEVENT\r\nDTSTAMP:20260101T000000Z\r\n" + body.strip().replace("\n", "\r\n") + "\r\nEND:VEVENT\r\n"


def expand(text: str, start: datetime = START, end: datetime = END) -> Expansion:
    calendar = parse_calendar(text)
    assert calendar is not None
    return expand_calendar(calendar, start, end, self_email="me@example.com")


def by_id(text: str) -> dict[str, NormalizedEvent]:
    return {e.platform_uuid: e for e in expand(text).events}


def test_rrule_rdate_exdate():
    events = by_id(
        cal(
            ev("""UID:r
DTSTART;TZID=America/New_York:20260105T090000
DTEND;TZID=America/New_York:20260105T093000
RRULE:FREQ=WEEKLY;UNTIL=20260126T140000Z
EXDATE;TZID=America/New_York:20260112T090000
RDATE;TZID=America/New_York:20260201T120000""")
        )
    )
    assert sorted(events) == ["r_20260105T140000Z", "r_20260119T140000Z", "r_20260126T140000Z", "r_20260201T170000Z"]
    assert events["r_20260201T170000Z"].end_time == datetime(2026, 2, 1, 17, 30, tzinfo=UTC)
    assert all(e.recurring_event_id == "r" and e.time_zone == "America/New_York" for e in events.values())


def test_dst_keeps_wall_clock_time():
    events = by_id(
        cal(ev("UID:d\nDTSTART;TZID=Europe/Berlin:20260327T090000\nDURATION:PT1H\nRRULE:FREQ=DAILY;COUNT=3"))
    )
    assert [e.start_time.hour for e in sorted(events.values(), key=lambda e: e.start_time)] == [8, 8, 7]  # type: ignore[union-attr]


def test_overrides_this_and_future_and_cancelled_instance():
    events = by_id(
        cal(
            ev(
                "UID:o\nSEQUENCE:1\nDTSTART:20260302T090000Z\nDTEND:20260302T100000Z\nRRULE:FREQ=DAILY;COUNT=5\nSUMMARY:Base"
            ),
            ev(
                "UID:o\nRECURRENCE-ID:20260303T090000Z\nDTSTART:20260303T090000Z\nDTEND:20260303T100000Z\nSTATUS:CANCELLED"
            ),
            ev(
                "UID:o\nSEQUENCE:2\nRECURRENCE-ID;RANGE=THISANDFUTURE:20260305T090000Z\n"
                "DTSTART:20260305T110000Z\nDTEND:20260305T120000Z\nSUMMARY:Later"
            ),
        )
    )
    assert events["o_20260303T090000Z"].is_deleted and events["o_20260303T090000Z"].status == "cancelled"
    assert events["o_20260305T090000Z"].name == "Later"
    assert events["o_20260306T090000Z"].name == "Later"
    assert events["o_20260306T090000Z"].start_time == datetime(2026, 3, 6, 11, tzinfo=UTC)
    assert events["o_20260302T090000Z"].name == "Base"


def test_custom_vtimezone_and_windows_zone_names():
    vtimezone = (
        "BEGIN:VTIMEZONE\r\nTZID:Custom Plus Three\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
        "TZOFFSETFROM:+0300\r\nTZOFFSETTO:+0300\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
    )
    events = by_id(
        cal(
            vtimezone,
            ev("UID:c\nDTSTART;TZID=Custom Plus Three:20260301T120000\nDTEND;TZID=Custom Plus Three:20260301T130000"),
            ev("UID:w\nDTSTART;TZID=W. Europe Standard Time:20260301T120000\nDURATION:PT30M"),
        )
    )
    assert events["c"].start_time == datetime(2026, 3, 1, 9, tzinfo=UTC)
    assert events["w"].start_time == datetime(2026, 3, 1, 11, tzinfo=UTC)


def test_x_wr_timezone_moves_utc_times_and_floating_times():
    events = by_id(
        cal(
            ev("UID:u\nDTSTART:20260601T090000Z\nDTEND:20260601T100000Z\nRRULE:FREQ=DAILY;COUNT=2"),
            ev("UID:f\nDTSTART:20260601T090000\nDTEND:20260601T100000"),
            header="X-WR-TIMEZONE:America/Los_Angeles\r\n",
        )
    )
    assert events["u_20260601T090000Z"].start_time == datetime(2026, 6, 1, 9, tzinfo=UTC)
    assert events["u_20260601T090000Z"].time_zone == "America/Los_Angeles"
    assert events["f"].start_time == datetime(2026, 6, 1, 16, tzinfo=UTC)  # floating, read in the calendar's zone


def test_all_day_events_keep_their_dates():
    events = by_id(
        cal(
            ev("UID:a\nDTSTART;VALUE=DATE:20260310\nDTEND;VALUE=DATE:20260312"),
            ev("UID:b\nDTSTART;VALUE=DATE:20260320"),
            ev("UID:y\nDTSTART;VALUE=DATE:20260101\nRRULE:FREQ=YEARLY\nEXDATE;VALUE=DATE:20270101"),
        )
    )
    assert (events["a"].is_all_day, events["a"].start_time, events["a"].end_time) == (
        True,
        datetime(2026, 3, 10, tzinfo=UTC),
        datetime(2026, 3, 12, tzinfo=UTC),
    )
    assert events["b"].end_time == datetime(2026, 3, 21, tzinfo=UTC)
    assert "y_20260101" in events


def test_attendees_organizer_and_self():
    event = by_id(
        cal(
            ev(
                "UID:p\nDTSTART:20260301T090000Z\nDTEND:20260301T100000Z\n"
                "ORGANIZER;CN=Org:mailto:Org@Example.com\n"
                "ATTENDEE;CN=Org;PARTSTAT=ACCEPTED:mailto:org@example.com\n"
                "ATTENDEE;PARTSTAT=TENTATIVE:mailto:me@example.com\n"
                "ATTENDEE;PARTSTAT=DECLINED:mailto:d@example.com\n"
                "ATTENDEE:mailto:n@example.com\n"
                "ATTENDEE;PARTSTAT=DELEGATED:mailto:g@example.com"
            )
        )
    )["p"]
    assert event.organizer == {"email": "Org@Example.com", "name": "Org"}
    assert [(a.email, a.response_status, a.is_organizer, a.is_self) for a in event.attendees] == [
        ("org@example.com", "accepted", True, False),
        ("me@example.com", "tentative", False, True),
        ("d@example.com", "declined", False, False),
        ("n@example.com", "needs_action", False, False),
        ("g@example.com", None, False, False),
    ]


def test_meeting_urls_from_vendor_properties_and_text():
    events = by_id(
        cal(
            ev("UID:g\nDTSTART:20260301T090000Z\nX-GOOGLE-CONFERENCE:https://meet.google.com/abc-defg-hij"),
            ev(
                "UID:t\nDTSTART:20260301T090000Z\nLOCATION:Room 1\n"
                "X-MICROSOFT-SKYPETEAMSMEETINGURL:https://teams.microsoft.com/l/meetup-join/19%3ameeting_x%40thread.v2/0"
            ),
            ev("UID:c\nDTSTART:20260301T090000Z\nCONFERENCE;VALUE=URI;FEATURE=VIDEO:https://zoom.us/j/123456789"),
            ev("UID:d\nDTSTART:20260301T090000Z\nDESCRIPTION:Join: https://zoom.us/j/987654321?pwd=x\\, thanks"),
            ev("UID:u\nDTSTART:20260301T090000Z\nURL:https://meet.google.com/xyz-abcd-efg"),
        )
    )
    assert (events["g"].meeting_platform, events["t"].meeting_platform) == ("google_meet", "microsoft_teams")
    assert events["c"].meeting_url == "https://zoom.us/j/123456789"
    assert events["d"].meeting_url == "https://zoom.us/j/987654321?pwd=x"
    assert events["u"].meeting_platform == "google_meet"


def test_one_malformed_component_is_skipped_and_counted():
    result = expand(
        cal(
            ev("UID:good\nDTSTART:20260301T090000Z"),
            ev("UID:bad-rule\nDTSTART:20260301T090000Z\nRRULE:FREQ=DAILY;UNTL=2026"),
            ev("UID:bad-start\nDTSTART:not-a-date\nRRULE:FREQ=DAILY"),
            ev("SUMMARY:no uid\nDTSTART:20260301T090000Z"),
            ev("UID:backwards\nDTSTART:20260301T090000Z\nDTEND:20260301T080000Z"),
            ev("UID:both\nDTSTART:20260301T090000Z\nDTEND:20260301T100000Z\nDURATION:PT2H"),
        )
    )
    ids = {e.platform_uuid for e in result.events}
    assert {"good", "backwards", "both"} <= ids and not {"bad-start"} & ids
    assert result.skipped >= 2
    backwards = next(e for e in result.events if e.platform_uuid == "backwards")
    # recurring-ical-events swaps a start and end given the wrong way round; never a negative interval.
    assert backwards.end_time is not None and backwards.start_time is not None
    assert backwards.end_time >= backwards.start_time


def test_not_a_calendar():
    assert parse_calendar(b"<html>login</html>") is None
    assert parse_calendar(b"") is None


_LINES = st.sampled_from(
    [
        "BEGIN:VEVENT",
        "END:VEVENT",
        "UID:x",
        "UID:y",
        "DTSTART:20260301T090000Z",
        "DTSTART;VALUE=DATE:20260301",
        "DTSTART;TZID=Nowhere/Zone:20260301T090000",
        "DTSTART:garbage",
        "DTEND:20260301T080000Z",
        "DURATION:P-1D",
        "RRULE:FREQ=DAILY;COUNT=3",
        "RRULE:FREQ=SOMETIMES",
        "RECURRENCE-ID:20260302T090000Z",
        "EXDATE:2026",
        "RDATE;VALUE=PERIOD:20260301T090000Z/PT1H",
        "ATTENDEE;PARTSTAT=WHATEVER:mailto:",
        "ORGANIZER:",
        "STATUS:CANCELLED",
        " folded continuation",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_LINES, max_size=30), st.binary(max_size=40))
def test_never_crashes_on_garbage(lines: list[str], noise: bytes):
    text = "BEGIN:VCALENDAR\r\n" + "\r\n".join(lines) + "\r\nEND:VCALENDAR\r\n"
    for data in (text.encode(), text.encode() + noise, noise):
        calendar = parse_calendar(data)
        if calendar is not None:
            result = expand_calendar(calendar, START, END)
            assert all(e.start_time is not None and e.end_time is not None for e in result.events)


@settings(max_examples=60, deadline=None)
@given(st.lists(_LINES, min_size=1, max_size=12))
def test_a_bad_component_never_loses_the_good_one(lines: list[str]):
    bad = "BEGIN:VEVENT\r\nUID:bad\r\n" + "\r\n".join(
        line for line in lines if not line.startswith(("BEGIN", "END", "UID", " "))
    )
    text = cal(bad + "\r\nEND:VEVENT\r\n", ev("UID:good\nDTSTART:20260301T090000Z"))
    calendar = parse_calendar(text)
    assert calendar is not None
    assert "good" in {e.platform_uuid for e in expand_calendar(calendar, START, END).events}
