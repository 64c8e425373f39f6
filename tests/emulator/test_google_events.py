"""Google events.list / events.get: windows, recurrence expansion, paging, sync tokens, errors."""

from __future__ import annotations

import pytest

from tests.emulator.conftest import google_pages, google_token


@pytest.fixture
async def setup(emulator, control, http):
    account = await control.create_account(
        "google", time_zone="Europe/Zurich", calendars=[{"name": "Team", "time_zone": "America/New_York"}]
    )
    headers = await google_token(http, emulator, account)
    url = f"{emulator.google_api_url}/calendars/primary/events"
    return account, account["primary_calendar_id"], headers, url


async def test_calendar_list_and_primary(emulator, control, http, setup):
    account, _cal, headers, _ = setup
    listing = (await http.get(f"{emulator.google_api_url}/users/me/calendarList", headers=headers)).json()
    assert listing["kind"] == "calendar#calendarList"
    assert next(c["id"] for c in listing["items"]) == account["email"]
    assert listing["items"][0]["primary"] is True and listing["items"][0]["accessRole"] == "owner"
    assert "nextSyncToken" in listing
    primary = (await http.get(f"{emulator.google_api_url}/calendars/primary", headers=headers)).json()
    assert primary["id"] == account["email"] and primary["timeZone"] == "Europe/Zurich"
    other = account["calendars"][1]["id"]
    assert (await http.get(f"{emulator.google_api_url}/calendars/{other}", headers=headers)).json()["timeZone"] == (
        "America/New_York"
    )
    missing = await http.get(f"{emulator.google_api_url}/calendars/nobody@example.com/events", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"]["errors"][0]["reason"] == "notFound"


async def test_time_window_bounds_end_and_start(control, http, setup):
    _, cal, headers, url = setup
    a = await control.create_event(cal, "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z", summary="a")
    b = await control.create_event(cal, "2026-03-02T10:00:00Z", "2026-03-02T11:00:00Z", summary="b")
    c = await control.create_event(cal, "2026-03-02T11:00:00Z", "2026-03-02T12:00:00Z", summary="c")
    # timeMin is exclusive on the end (a ends at 10:00: out); timeMax exclusive on the start (c: out)
    items, _ = await google_pages(
        http, url, headers, {"timeMin": "2026-03-02T10:00:00Z", "timeMax": "2026-03-02T11:00:00Z"}
    )
    assert [i["id"] for i in items] == [b["id"]]
    items, _ = await google_pages(
        http, url, headers, {"timeMin": "2026-03-02T09:30:00+00:00", "timeMax": "2026-03-02T12:00:00+01:00"}
    )
    assert [i["id"] for i in items] == [a["id"], b["id"]]
    assert c["id"]
    empty = await http.get(
        url, headers=headers, params={"timeMin": "2026-03-02T10:00:00Z", "timeMax": "2026-03-02T10:00:00Z"}
    )
    assert empty.status_code == 400
    assert empty.json()["error"]["errors"][0]["reason"] == "timeRangeEmpty"


async def test_single_events_expansion_with_exceptions(control, http, setup):
    _, cal, headers, url = setup
    series = await control.create_event(
        cal,
        "2026-03-02T09:00:00",
        "2026-03-02T09:30:00",
        summary="standup",
        recurrence=["RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=MO,WE,FR;COUNT=6", "EXDATE;TZID=Europe/Zurich:20260304T090000"],
    )
    sid = series["id"]
    # 2026-03-06 08:00Z is Friday 09:00 Zurich: move it; cancel Monday 2026-03-09
    moved = await control.update_event(
        cal, f"{sid}_20260306T080000Z", summary="moved standup", start="2026-03-06T14:00:00", end="2026-03-06T14:30:00"
    )
    assert moved["kind"] == "override"
    await control.cancel_event(cal, f"{sid}_20260309T080000Z")
    items, _ = await google_pages(
        http, url, headers, {"singleEvents": "true", "orderBy": "startTime", "timeMin": "2026-03-01T00:00:00Z"}
    )
    assert [i["id"] for i in items] == [
        f"{sid}_20260302T080000Z",
        f"{sid}_20260306T080000Z",
        f"{sid}_20260311T080000Z",
        f"{sid}_20260313T080000Z",
    ]
    assert all(i["recurringEventId"] == sid for i in items)
    assert items[1]["summary"] == "moved standup"
    assert items[1]["start"] == {"dateTime": "2026-03-06T14:00:00+01:00", "timeZone": "Europe/Zurich"}
    assert items[1]["originalStartTime"]["dateTime"] == "2026-03-06T09:00:00+01:00"
    # without singleEvents: the master (with its recurrence) and the modified exception
    items, _ = await google_pages(http, url, headers, {})
    assert {i["id"] for i in items} == {sid, f"{sid}_20260306T080000Z"}
    master = next(i for i in items if i["id"] == sid)
    assert master["recurrence"][0].startswith("RRULE:FREQ=WEEKLY")
    # showDeleted adds the cancelled instance as a stub carrying its series and slot
    items, _ = await google_pages(http, url, headers, {"singleEvents": "true", "showDeleted": "true"})
    cancelled = [i for i in items if i["status"] == "cancelled"]
    assert cancelled == [
        {
            "kind": "calendar#event",
            "etag": cancelled[0]["etag"],
            "id": f"{sid}_20260309T080000Z",
            "status": "cancelled",
            "recurringEventId": sid,
            "originalStartTime": {"dateTime": "2026-03-09T09:00:00+01:00", "timeZone": "Europe/Zurich"},
        }
    ]


@pytest.mark.parametrize(
    ("rule", "expected_days"),
    [
        ("RRULE:FREQ=DAILY;INTERVAL=3;COUNT=4", ["02", "05", "08", "11"]),
        ("RRULE:FREQ=WEEKLY;BYDAY=TU,TH;UNTIL=20260310T235959Z", ["03", "05", "10"]),
        ("RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20260316", ["02", "09", "16"]),
        ("RRULE:FREQ=MONTHLY;COUNT=2", ["02", "02"]),
    ],
)
async def test_rrule_variants(control, http, setup, rule, expected_days):
    _, cal, headers, url = setup
    await control.create_event(cal, "2026-03-02T12:00:00Z", "2026-03-02T13:00:00Z", recurrence=[rule])
    items, _ = await google_pages(http, url, headers, {"singleEvents": "true", "timeZone": "UTC"})
    assert [i["start"]["dateTime"][8:10] for i in items] == expected_days


async def test_all_day_and_time_zone_parameter(control, http, setup):
    _, cal, headers, url = setup
    await control.create_event(cal, "2026-03-05", "2026-03-07", summary="offsite")
    await control.create_event(cal, "2026-03-05T09:00:00", "2026-03-05T10:00:00", time_zone="America/New_York")
    items, _ = await google_pages(
        http, url, headers, {"singleEvents": "true", "timeZone": "Asia/Tokyo", "timeMin": "2026-03-04T00:00:00Z"}
    )
    assert items[0]["start"] == {"date": "2026-03-05"} and items[0]["end"] == {"date": "2026-03-07"}
    assert items[1]["start"] == {"dateTime": "2026-03-05T23:00:00+09:00", "timeZone": "America/New_York"}


async def test_paging_and_sync_token_only_on_last_page(control, http, setup):
    _, cal, headers, url = setup
    for day in range(1, 8):
        await control.create_event(cal, f"2026-03-{day:02d}T09:00:00Z", f"2026-03-{day:02d}T10:00:00Z")
    items, pages = await google_pages(http, url, headers, {"maxResults": "3", "singleEvents": "true"})
    assert [len(p["items"]) for p in pages] == [3, 3, 1]
    assert all("nextSyncToken" not in p for p in pages[:-1]) and "nextSyncToken" in pages[-1]
    assert "nextPageToken" not in pages[-1]
    assert len({i["id"] for i in items}) == 7
    # a page token is only good for the identical query
    changed = await http.get(
        url, headers=headers, params={"maxResults": "2", "singleEvents": "true", "pageToken": pages[0]["nextPageToken"]}
    )
    assert changed.status_code == 400


async def test_empty_first_page_quirk(control, http, setup):
    _, cal, headers, url = setup
    await control.set_config(google_empty_page_first=True)
    await control.create_event(cal, "2026-03-01T09:00:00Z", "2026-03-01T10:00:00Z")
    items, pages = await google_pages(http, url, headers, {})
    assert pages[0]["items"] == [] and "nextPageToken" in pages[0]
    assert len(items) == 1 and "nextSyncToken" in pages[-1]


async def test_incremental_sync_reports_changes_and_cancelled_stubs(control, http, setup):
    _, cal, headers, url = setup
    keep = await control.create_event(cal, "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z", summary="keep")
    gone = await control.create_event(cal, "2026-03-03T09:00:00Z", "2026-03-03T10:00:00Z", summary="gone")
    series = await control.create_event(
        cal, "2026-03-02T12:00:00Z", "2026-03-02T13:00:00Z", recurrence=["RRULE:FREQ=DAILY;COUNT=3"]
    )
    _, pages = await google_pages(http, url, headers, {"singleEvents": "true", "timeMin": "2026-03-01T00:00:00Z"})
    token = pages[-1]["nextSyncToken"]
    nothing, _ = await google_pages(http, url, headers, {"singleEvents": "true", "syncToken": token})
    assert nothing == []

    await control.update_event(cal, keep["id"], summary="kept and renamed")
    await control.delete_event(cal, gone["id"])
    await control.cancel_event(cal, f"{series['id']}_20260303T120000Z")
    new = await control.create_event(cal, "2026-03-04T09:00:00Z", "2026-03-04T10:00:00Z", summary="new")
    items, pages = await google_pages(
        http, url, headers, {"singleEvents": "true", "syncToken": token, "maxResults": "2"}
    )
    assert len(pages) == 2 and "nextSyncToken" in pages[-1]
    by_id = {i["id"]: i for i in items}
    assert by_id[keep["id"]]["summary"] == "kept and renamed"
    assert by_id[new["id"]]["status"] == "confirmed"
    assert set(by_id[gone["id"]]) == {"kind", "etag", "id", "status"} and by_id[gone["id"]]["status"] == "cancelled"
    stub = by_id[f"{series['id']}_20260303T120000Z"]
    assert stub["status"] == "cancelled" and stub["recurringEventId"] == series["id"]
    assert stub["originalStartTime"]["dateTime"] == "2026-03-03T13:00:00+01:00"

    # changing the whole series reports its instances; shortening it reports the vanished one cancelled
    await control.update_event(cal, series["id"], recurrence=["RRULE:FREQ=DAILY;COUNT=2"], summary="shorter")
    items, _ = await google_pages(http, url, headers, {"singleEvents": "true", "syncToken": pages[-1]["nextSyncToken"]})
    states = {i["id"]: i["status"] for i in items}
    assert states == {f"{series['id']}_20260302T120000Z": "confirmed", f"{series['id']}_20260304T120000Z": "cancelled"}


async def test_sync_token_rules(control, http, setup):
    account, _cal, headers, url = setup
    _, pages = await google_pages(http, url, headers, {})
    token = pages[-1]["nextSyncToken"]
    for extra in (
        {"timeMin": "2026-01-01T00:00:00Z"},
        {"orderBy": "updated"},
        {"q": "x"},
        {"iCalUID": "x"},
        {"updatedMin": "2026-01-01T00:00:00Z"},
        {"showDeleted": "false"},
    ):
        response = await http.get(url, headers=headers, params={"syncToken": token, **extra})
        assert response.status_code == 400, extra
    allowed = await http.get(
        url, headers=headers, params={"syncToken": token, "singleEvents": "true", "maxResults": "5", "timeZone": "UTC"}
    )
    assert allowed.status_code == 200
    await control.expire_sync_state(account["id"])
    expired = await http.get(url, headers=headers, params={"syncToken": token})
    assert expired.status_code == 410
    assert expired.json() == {
        "error": {
            "errors": [
                {
                    "domain": "calendar",
                    "reason": "fullSyncRequired",
                    "message": "Sync token is no longer valid, a full sync is required.",
                    "locationType": "parameter",
                    "location": "syncToken",
                }
            ],
            "code": 410,
            "message": "Sync token is no longer valid, a full sync is required.",
            "status": "GONE",
        }
    }
    garbage = await http.get(url, headers=headers, params={"syncToken": "not-a-token"})
    assert garbage.status_code == 410


async def test_events_get_instances_and_deleted(emulator, control, http, setup):
    _, cal, headers, url = setup
    series = await control.create_event(
        cal,
        "2026-03-02T12:00:00Z",
        "2026-03-02T13:00:00Z",
        recurrence=["RRULE:FREQ=DAILY;COUNT=3"],
        meeting_url="https://meet.google.com/abc-defg-hij",
    )
    instance = (await http.get(f"{url}/{series['id']}_20260303T120000Z", headers=headers)).json()
    assert instance["recurringEventId"] == series["id"]
    assert instance["hangoutLink"] == "https://meet.google.com/abc-defg-hij"
    assert instance["conferenceData"]["entryPoints"][0]["entryPointType"] == "video"
    assert (await http.get(f"{url}/nope", headers=headers)).status_code == 404
    await control.delete_event(cal, series["id"])
    deleted = (await http.get(f"{url}/{series['id']}", headers=headers)).json()
    assert deleted["status"] == "cancelled"


async def test_move_between_calendars_keeps_google_id(emulator, control, http, setup):
    account, cal, headers, url = setup
    other = account["calendars"][1]["id"]
    event = await control.create_event(cal, "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z")
    _, pages = await google_pages(http, url, headers, {})
    moved = await control.move_event(cal, event["id"], other)
    assert moved["id"] == event["id"]
    items, _ = await google_pages(http, url, headers, {"syncToken": pages[-1]["nextSyncToken"]})
    assert [(i["id"], i["status"]) for i in items] == [(event["id"], "cancelled")]
    items, _ = await google_pages(http, f"{emulator.google_api_url}/calendars/{other}/events", headers, {})
    assert [i["id"] for i in items] == [event["id"]]


async def test_scope_and_https_rules(emulator, control, http, setup):
    account, _cal, headers, url = setup
    await control.set_config(google_require_https=True)
    watch = await http.post(
        f"{url}/watch", headers=headers, json={"id": "c1", "type": "web_hook", "address": "http://127.0.0.1:9/x"}
    )
    assert watch.status_code == 400
    await control.patch_account(account["id"], calendar_access=False)
    denied = await http.get(url, headers=headers)
    assert denied.status_code == 403
    assert denied.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"
