"""Microsoft Graph: user and calendars, calendarView, delta rounds, errors."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.emulator.conftest import graph_pages, ms_token

WINDOW = {"startDateTime": "2026-03-01T00:00:00Z", "endDateTime": "2026-04-01T00:00:00Z"}


@pytest.fixture
async def setup(emulator, control, http):
    account = await control.create_account(
        "microsoft", display_name="Ada Lovelace", time_zone="Europe/Berlin", calendars=[{"name": "Side"}]
    )
    headers = await ms_token(http, emulator, account)
    return account, account["primary_calendar_id"], headers


async def test_me_and_calendars(emulator, control, http, setup):
    account, cal, headers = setup
    me = (await http.get(f"{emulator.graph_url}/me", headers=headers)).json()
    assert me["id"] == account["user_id"] and me["displayName"] == "Ada Lovelace"
    assert me["userPrincipalName"] == account["email"] and "@odata.context" in me
    default = (await http.get(f"{emulator.graph_url}/me/calendar", headers=headers)).json()
    assert default["id"] == cal and default["isDefaultCalendar"] is True and default["canEdit"] is True
    listing = (await http.get(f"{emulator.graph_url}/me/calendars", headers=headers)).json()
    assert [c["isDefaultCalendar"] for c in listing["value"]] == [True, False]
    side = account["calendars"][1]["id"]
    assert (await http.get(f"{emulator.graph_url}/me/calendars/{side}", headers=headers)).json()["name"] == "Side"
    by_user = await http.get(f"{emulator.graph_url}/users/{account['email']}/calendars/{side}", headers=headers)
    assert by_user.status_code == 200
    missing = await http.get(f"{emulator.graph_url}/me/calendars/AAMkAGnope", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ErrorItemNotFound"
    assert {"request-id", "date", "client-request-id"} <= missing.json()["error"]["innerError"].keys()


async def test_delta_paging_prefer_headers_and_links(emulator, control, http, setup):
    _, cal, headers = setup
    for day in range(2, 9):
        await control.create_event(
            cal, f"2026-03-{day:02d}T09:00:00Z", f"2026-03-{day:02d}T10:00:00Z", summary=f"e{day}"
        )
    prefer = {**headers, "Prefer": 'odata.maxpagesize=3, outlook.timezone="Pacific Standard Time"'}
    items, responses = await graph_pages(http, f"{emulator.graph_url}/me/calendarView/delta", prefer, WINDOW)
    assert [len(r.json()["value"]) for r in responses] == [3, 3, 1]
    for response in responses:
        applied = response.headers["preference-applied"]
        assert "odata.track-changes" in applied and "odata.maxpagesize=3" in applied
        assert 'outlook.timezone="Pacific Standard Time"' in applied
    host = urlparse(emulator.base_url).netloc
    for response in responses[:-1]:
        link = response.json()["@odata.nextLink"]
        assert urlparse(link).netloc == host and "$skiptoken=" in link and "@odata.deltaLink" not in response.json()
    delta_link = responses[-1].json()["@odata.deltaLink"]
    assert urlparse(delta_link).netloc == host and "$deltatoken=" in delta_link
    assert items[0]["start"] == {"dateTime": "2026-03-02T01:00:00.0000000", "timeZone": "Pacific Standard Time"}
    assert items[0]["type"] == "singleInstance"
    # default: UTC, and the default page size of 10 holds everything
    items, responses = await graph_pages(http, f"{emulator.graph_url}/me/calendarView/delta", headers, WINDOW)
    assert len(responses) == 1 and items[0]["start"]["timeZone"] == "UTC"
    assert items[0]["start"]["dateTime"] == "2026-03-02T09:00:00.0000000"


async def test_delta_rounds_report_changes_and_removals(emulator, control, http, setup):
    _, cal, headers = setup
    keep = await control.create_event(cal, "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z", summary="keep")
    gone = await control.create_event(cal, "2026-03-03T09:00:00Z", "2026-03-03T10:00:00Z", summary="gone")
    leaves = await control.create_event(cal, "2026-03-04T09:00:00Z", "2026-03-04T10:00:00Z", summary="leaves")
    outside = await control.create_event(cal, "2026-06-04T09:00:00Z", "2026-06-04T10:00:00Z", summary="outside")
    cancelled = await control.create_event(
        cal,
        "2026-03-05T09:00:00Z",
        "2026-03-05T10:00:00Z",
        summary="cancel me",
        meeting_url="https://teams.microsoft.com/l/meetup-join/19%3ameeting_X%40thread.v2/0",
    )
    items, responses = await graph_pages(http, f"{emulator.graph_url}/me/calendarView/delta", headers, WINDOW)
    assert {i["subject"] for i in items} == {"keep", "gone", "leaves", "cancel me"}
    joined = next(i for i in items if i["subject"] == "cancel me")
    assert joined["onlineMeeting"]["joinUrl"].startswith("https://teams.microsoft.com/l/meetup-join/")
    assert joined["isOnlineMeeting"] is True and joined["onlineMeetingProvider"] == "teamsForBusiness"
    link = responses[-1].json()["@odata.deltaLink"]
    again, _ = await graph_pages(http, link, headers)
    assert again == []

    await control.update_event(cal, keep["id"], summary="kept")
    await control.delete_event(cal, gone["id"])
    await control.update_event(cal, leaves["id"], start="2026-05-04T09:00:00Z", end="2026-05-04T10:00:00Z")
    await control.update_event(cal, outside["id"], summary="still outside")
    await control.cancel_event(cal, cancelled["id"])
    items, responses = await graph_pages(http, link, headers)
    removed = {i["id"] for i in items if "@removed" in i}
    assert removed == {gone["id"], leaves["id"], outside["id"]}
    assert all(
        i["@removed"] == {"reason": "deleted"} and i["@odata.type"] == "#microsoft.graph.event"
        for i in items
        if "@removed" in i
    )
    changed = {i["id"]: i for i in items if "@removed" not in i}
    assert changed[keep["id"]]["subject"] == "kept"
    assert changed[cancelled["id"]]["isCancelled"] is True


async def test_series_occurrences_exceptions_and_all_day(emulator, control, http, setup):
    _, cal, headers = setup
    series = await control.create_event(
        cal,
        "2026-03-02T10:00:00",
        "2026-03-02T11:00:00",
        summary="weekly",
        recurrence=["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=3"],
    )
    sid = series["id"]
    await control.update_event(cal, f"{sid}_20260309T090000Z", summary="special")
    await control.create_event(cal, "2026-03-10", "2026-03-11", summary="holiday")
    items, responses = await graph_pages(http, f"{emulator.graph_url}/me/calendarView/delta", headers, WINDOW)
    kinds = {(i["subject"], i["type"]) for i in items}
    assert kinds == {("weekly", "occurrence"), ("special", "exception"), ("holiday", "singleInstance")}
    assert all(i["seriesMasterId"] == sid for i in items if i["type"] in ("occurrence", "exception"))
    assert len({i["iCalUId"] for i in items}) == 4  # different for every occurrence
    holiday = next(i for i in items if i["subject"] == "holiday")
    assert holiday["isAllDay"] is True
    assert holiday["start"]["dateTime"] == "2026-03-10T00:00:00.0000000"
    assert holiday["end"]["dateTime"] == "2026-03-11T00:00:00.0000000"
    # cancelling one occurrence removes it from the series: reported as @removed
    await control.cancel_event(cal, f"{sid}_20260316T090000Z")
    delta, _ = await graph_pages(http, responses[-1].json()["@odata.deltaLink"], headers)
    assert delta == [
        {"@odata.type": "#microsoft.graph.event", "id": f"{sid}_20260316T090000Z", "@removed": {"reason": "deleted"}}
    ]
    view = (await http.get(f"{emulator.graph_url}/me/calendarView", headers=headers, params=WINDOW)).json()
    assert len(view["value"]) == 3
    event = await http.get(f"{emulator.graph_url}/me/events/{sid}_20260302T090000Z", headers=headers)
    assert event.status_code == 200 and event.json()["type"] == "occurrence"


async def test_specific_calendar_delta_and_sync_state_not_found(emulator, control, http, setup):
    account, _, headers = setup
    side = account["calendars"][1]["id"]
    await control.create_event(side, "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z", summary="side")
    url = f"{emulator.graph_url}/me/calendars/{side}/calendarView/delta"
    items, responses = await graph_pages(http, url, headers, WINDOW)
    assert [i["subject"] for i in items] == ["side"]
    link = responses[-1].json()["@odata.deltaLink"]
    assert f"/me/calendars/{side}/calendarView/delta" in link
    await control.expire_sync_state(account["id"], side)
    response = await http.get(link, headers=headers)
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "SyncStateNotFound"
    assert response.json()["error"]["message"].startswith("The sync state generation is not found")


async def test_empty_first_delta_page_quirk(emulator, control, http, setup):
    _, cal, headers = setup
    await control.set_config(graph_empty_page_first=True)
    await control.create_event(cal, "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z")
    items, responses = await graph_pages(http, f"{emulator.graph_url}/me/calendarView/delta", headers, WINDOW)
    assert responses[0].json()["value"] == [] and "@odata.nextLink" in responses[0].json()
    assert len(items) == 1


async def test_mailbox_and_access_errors(emulator, control, http, setup):
    account, _, headers = setup
    await control.patch_account(account["id"], mailbox_enabled=False)
    response = await http.get(f"{emulator.graph_url}/me/calendarView/delta", headers=headers, params=WINDOW)
    assert response.status_code == 404 and response.json()["error"]["code"] == "MailboxNotEnabledForRESTAPI"
    await control.patch_account(account["id"], mailbox_enabled=True, calendar_access=False)
    response = await http.get(f"{emulator.graph_url}/me/calendars", headers=headers)
    assert response.status_code == 403 and response.json()["error"]["code"] == "ErrorAccessDenied"
    missing_window = await http.get(f"{emulator.graph_url}/me/calendarView", headers=headers)
    assert missing_window.status_code in (400, 403)


async def test_calendar_view_paging_with_top(emulator, control, http, setup):
    _, cal, headers = setup
    for day in range(2, 7):
        await control.create_event(cal, f"2026-03-{day:02d}T09:00:00Z", f"2026-03-{day:02d}T10:00:00Z")
    items, responses = await graph_pages(
        http, f"{emulator.graph_url}/me/calendar/calendarView", headers, {**WINDOW, "$top": "2"}
    )
    assert [len(r.json()["value"]) for r in responses] == [2, 2, 1]
    assert len({i["id"] for i in items}) == 5


async def test_move_gives_graph_event_a_new_id(emulator, control, http, setup):
    account, cal, headers = setup
    side = account["calendars"][1]["id"]
    event = await control.create_event(cal, "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z", summary="mover")
    _, responses = await graph_pages(http, f"{emulator.graph_url}/me/calendarView/delta", headers, WINDOW)
    moved = await control.move_event(cal, event["id"], side)
    assert moved["id"] != event["id"]
    items, _ = await graph_pages(http, responses[-1].json()["@odata.deltaLink"], headers)
    assert items == [{"@odata.type": "#microsoft.graph.event", "id": event["id"], "@removed": {"reason": "deleted"}}]
    side_items, _ = await graph_pages(http, f"{emulator.graph_url}/me/calendars/{side}/calendarView", headers, WINDOW)
    assert [(i["id"], i["subject"]) for i in side_items] == [(moved["id"], "mover")]
