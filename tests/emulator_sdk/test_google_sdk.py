"""google-api-python-client + google-auth against the emulator: what worked before (sync-token flow, 410,
watch/stop, token refresh, paging) and what was added later (fields, events.instances, freebusy.query,
colors, settings, Google-shaped errors for unknown routes)."""

from __future__ import annotations

from typing import Any

import pytest
from googleapiclient.errors import HttpError

from tests.emulator_sdk.conftest import sdk

WINDOW = {"timeMin": "2026-03-01T00:00:00Z", "timeMax": "2026-04-01T00:00:00Z"}


@pytest.fixture
def account(gcontrol) -> dict[str, Any]:
    return gcontrol.create_account("google", time_zone="Europe/Zurich")


@pytest.fixture
def service(emulator, account):
    return sdk.google_calendar(
        emulator.base_url, account["client_id"], account["client_secret"], account["refresh_token"]
    )


def reasons(error: HttpError) -> list[str]:
    return [d.get("reason") for d in error.error_details] if isinstance(error.error_details, list) else []


def test_calendar_list_and_paged_events(service, gcontrol, account):
    cal = account["primary_calendar_id"]
    for day in range(2, 7):
        gcontrol.create_event(cal, f"2026-03-0{day}T09:00:00", f"2026-03-0{day}T10:00:00", summary=f"e{day}")
    entries = service.calendarList().list().execute()["items"]
    assert [e["id"] for e in entries] == [cal] and entries[0]["primary"] is True
    assert service.calendars().get(calendarId="primary").execute()["timeZone"] == "Europe/Zurich"
    request = service.events().list(
        calendarId="primary", maxResults=2, singleEvents=True, orderBy="startTime", **WINDOW
    )
    summaries, pages = [], 0
    while request is not None:
        page = request.execute()
        pages += 1
        summaries += [e["summary"] for e in page["items"]]
        request = service.events().list_next(request, page)
    assert pages == 3 and summaries == ["e2", "e3", "e4", "e5", "e6"]


def test_sync_token_flow_and_410(service, gcontrol, account):
    cal = account["primary_calendar_id"]
    kept = gcontrol.create_event(cal, "2026-03-02T09:00:00", "2026-03-02T10:00:00", summary="kept")
    gone = gcontrol.create_event(cal, "2026-03-03T09:00:00", "2026-03-03T10:00:00", summary="gone")
    full = service.events().list(calendarId="primary", singleEvents=True).execute()
    assert {e["summary"] for e in full["items"]} == {"kept", "gone"} and "nextSyncToken" in full
    gcontrol.update_event(cal, kept["id"], summary="renamed")
    gcontrol.delete_event(cal, gone["id"])
    delta = service.events().list(calendarId="primary", singleEvents=True, syncToken=full["nextSyncToken"]).execute()
    by_id = {e["id"]: e for e in delta["items"]}
    assert by_id[kept["id"]]["summary"] == "renamed"
    assert by_id[gone["id"]] == {
        "kind": "calendar#event",
        "etag": by_id[gone["id"]]["etag"],
        "id": gone["id"],
        "status": "cancelled",
    }
    with pytest.raises(HttpError) as bad:
        service.events().list(
            calendarId="primary", syncToken=delta["nextSyncToken"], timeMin=WINDOW["timeMin"]
        ).execute()
    assert bad.value.status_code == 400
    gcontrol.expire_sync_state(account["id"])
    with pytest.raises(HttpError) as expired:
        service.events().list(calendarId="primary", singleEvents=True, syncToken=delta["nextSyncToken"]).execute()
    assert expired.value.status_code == 410 and reasons(expired.value) == ["fullSyncRequired"]


def test_token_refresh_after_expiry_and_revoked_grant(emulator, service, gcontrol, account):
    credentials = service._http.credentials
    service.calendarList().list().execute()
    first = credentials.token
    assert first.startswith("ya29.")
    gcontrol.expire_access_tokens(account["id"])
    service.calendarList().list().execute()  # 401, refresh, retry: all inside the library
    assert credentials.token != first
    gcontrol.revoke_grant(account["id"], "revoked")
    from google.auth.exceptions import RefreshError

    with pytest.raises(RefreshError) as refused:
        service.calendarList().list().execute()
    assert "invalid_grant" in str(refused.value) and "Token has been expired or revoked." in str(refused.value)


def test_watch_and_stop(service, gcontrol, account, receiver):
    import asyncio

    cal = account["primary_calendar_id"]
    channel = (
        service.events()
        .watch(
            calendarId="primary",
            body={"id": "chan-1", "type": "web_hook", "address": f"{receiver.base_url}/hook", "token": "t=1"},
        )
        .execute()
    )
    assert channel["kind"] == "api#channel" and channel["id"] == "chan-1" and channel["token"] == "t=1"
    gcontrol.create_event(cal, "2026-03-02T09:00:00", "2026-03-02T10:00:00")
    gcontrol.wait_notifications(5)
    states = [r.headers["x-goog-resource-state"] for r in receiver.requests_to("/hook")]
    assert states == ["sync", "exists"]
    assert service.channels().stop(body={"id": "chan-1", "resourceId": channel["resourceId"]}).execute() == ""
    with pytest.raises(HttpError) as again:
        service.channels().stop(body={"id": "chan-1", "resourceId": channel["resourceId"]}).execute()
    assert again.value.status_code == 404 and reasons(again.value) == ["notFound"]
    gcontrol.create_event(cal, "2026-03-03T09:00:00", "2026-03-03T10:00:00")
    gcontrol.wait_notifications(5)
    asyncio.run(asyncio.sleep(0.05))
    assert len(receiver.requests_to("/hook")) == 2  # a stopped channel is silent


def test_fields_partial_responses(service, gcontrol, account):
    cal = account["primary_calendar_id"]
    gcontrol.create_event(cal, "2026-03-02T09:00:00", "2026-03-02T10:00:00", summary="a", description="d")
    gcontrol.create_event(cal, "2026-03-03T09:00:00", "2026-03-03T10:00:00", summary="b")
    listing = service.events().list(calendarId="primary", fields="items(id,summary)").execute()
    assert set(listing) == {"items"} and all(set(e) == {"id", "summary"} for e in listing["items"])
    nested = (
        service.events()
        .list(calendarId="primary", fields="items/start/dateTime,items/description,nextSyncToken")
        .execute()
    )
    assert set(nested) == {"items", "nextSyncToken"}
    assert nested["items"] == [
        {"start": {"dateTime": "2026-03-02T09:00:00+01:00"}, "description": "d"},
        {"start": {"dateTime": "2026-03-03T09:00:00+01:00"}},
    ]
    everything = service.events().list(calendarId="primary", fields="items(*)").execute()
    assert set(everything) == {"items"} and everything["items"][0]["kind"] == "calendar#event"
    assert service.events().list(calendarId="primary", fields="*").execute()["kind"] == "calendar#events"
    one = listing["items"][0]["id"]
    assert service.events().get(calendarId="primary", eventId=one, fields="id,organizer(email)").execute() == {
        "id": one,
        "organizer": {"email": account["email"]},
    }
    assert set(service.calendarList().list(fields="items/id").execute()["items"][0]) == {"id"}
    for bad in ("items(nope)", "items(id", "summary/foo"):
        with pytest.raises(HttpError) as refused:
            service.events().list(calendarId="primary", fields=bad).execute()
        assert refused.value.status_code == 400 and reasons(refused.value) == ["invalidParameter"]
    # without nextPageToken in `fields`, a paged listing looks complete: the real API behaves the same
    paged = service.events().list(calendarId="primary", maxResults=1, fields="items(id)").execute()
    assert "nextPageToken" not in paged and len(paged["items"]) == 1


def test_events_instances(service, gcontrol, account):
    cal = account["primary_calendar_id"]
    series = gcontrol.create_event(
        cal, "2026-03-02T09:00:00", "2026-03-02T10:00:00", summary="daily", recurrence=["RRULE:FREQ=DAILY;COUNT=5"]
    )
    first = service.events().instances(calendarId="primary", eventId=series["id"], maxResults=2).execute()
    assert first["kind"] == "calendar#events" and len(first["items"]) == 2 and "nextPageToken" in first
    assert all(i["recurringEventId"] == series["id"] for i in first["items"])
    ids = [i["id"] for i in first["items"]]
    request = service.events().instances(calendarId="primary", eventId=series["id"], maxResults=2)
    collected = []
    while request is not None:
        page = request.execute()
        collected += [i["id"] for i in page["items"]]
        request = service.events().instances_next(request, page)
    assert collected[:2] == ids and len(collected) == 5
    # one moved, one cancelled: the moved one is listed in its new slot, the cancelled one only with showDeleted
    gcontrol.update_event(cal, collected[1], start="2026-03-03T15:00:00", end="2026-03-03T16:00:00", summary="moved")
    gcontrol.cancel_event(cal, collected[2])
    listed = service.events().instances(calendarId="primary", eventId=series["id"]).execute()["items"]
    assert [i["id"] for i in listed] == [collected[0], collected[1], collected[3], collected[4]]
    assert listed[1]["summary"] == "moved" and listed[1]["start"]["dateTime"] == "2026-03-03T15:00:00+01:00"
    with_deleted = service.events().instances(calendarId="primary", eventId=series["id"], showDeleted=True).execute()
    assert {"id": collected[2], "status": "cancelled"}.items() <= with_deleted["items"][2].items()
    window = (
        service.events()
        .instances(
            calendarId="primary", eventId=series["id"], timeMin="2026-03-04T00:00:00Z", timeMax="2026-03-06T00:00:00Z"
        )
        .execute()
    )
    assert [i["id"] for i in window["items"]] == [collected[3]]
    exact = (
        service.events()
        .instances(
            calendarId="primary", eventId=series["id"], originalStart="2026-03-05T09:00:00+01:00", timeZone="UTC"
        )
        .execute()
    )
    assert [i["id"] for i in exact["items"]] == [collected[3]] and exact["timeZone"] == "UTC"
    assert exact["items"][0]["start"]["dateTime"] == "2026-03-05T08:00:00Z"
    with pytest.raises(HttpError) as missing:
        service.events().instances(calendarId="primary", eventId="nope").execute()
    assert missing.value.status_code == 404 and reasons(missing.value) == ["notFound"]


def test_freebusy_query(service, gcontrol, account):
    cal = account["primary_calendar_id"]
    gcontrol.create_event(cal, "2026-03-02T09:00:00", "2026-03-02T10:00:00")
    gcontrol.create_event(cal, "2026-03-02T09:30:00", "2026-03-02T11:00:00")  # overlaps: merged
    gcontrol.create_event(cal, "2026-03-02T13:00:00", "2026-03-02T14:00:00", show_as="free")  # transparent
    body = {
        "timeMin": "2026-03-02T00:00:00Z",
        "timeMax": "2026-03-03T00:00:00Z",
        "timeZone": "Europe/Zurich",
        "items": [{"id": "primary"}, {"id": "someone@example.com"}],
    }
    answer = service.freebusy().query(body=body).execute()
    assert answer["kind"] == "calendar#freeBusy" and answer["timeMin"] == "2026-03-02T00:00:00.000Z"
    assert answer["calendars"]["primary"] == {
        "busy": [{"start": "2026-03-02T09:00:00+01:00", "end": "2026-03-02T11:00:00+01:00"}]
    }
    assert answer["calendars"]["someone@example.com"]["errors"] == [{"domain": "global", "reason": "notFound"}]
    with pytest.raises(HttpError) as empty:
        service.freebusy().query(body={**body, "timeMax": body["timeMin"]}).execute()
    assert reasons(empty.value) == ["timeRangeEmpty"]


def test_colors_and_settings(service, account):
    colors = service.colors().get().execute()
    assert colors["kind"] == "calendar#colors" and len(colors["calendar"]) == 24 and len(colors["event"]) == 11
    assert service.colors().get(fields="event/11").execute() == {"event": {"11": colors["event"]["11"]}}
    settings = service.settings().list().execute()
    assert settings["kind"] == "calendar#settings" and "nextSyncToken" in settings
    assert {s["id"]: s["value"] for s in settings["items"]}["timezone"] == "Europe/Zurich"
    paged = service.settings().list(maxResults=5)
    seen = []
    while paged is not None:
        page = paged.execute()
        seen += [s["id"] for s in page["items"]]
        paged = service.settings().list_next(paged, page)
    assert seen == [s["id"] for s in settings["items"]]
    assert service.settings().get(setting="weekStart").execute()["value"] == "0"
    with pytest.raises(HttpError) as unknown:
        service.settings().get(setting="nope").execute()
    assert unknown.value.status_code == 404 and reasons(unknown.value) == ["notFound"]


def test_unknown_routes_answer_googles_envelope(service):
    # the emulator has no ACL API: the library still gets Google's error shape, reason included
    with pytest.raises(HttpError) as missing:
        service.acl().list(calendarId="primary").execute()
    assert missing.value.status_code == 404 and reasons(missing.value) == ["notFound"]
    assert missing.value.reason == "Not Found"
    with pytest.raises(HttpError) as write:
        service.events().delete(calendarId="primary", eventId="x").execute()
    assert write.value.status_code == 405 and reasons(write.value) == ["httpMethodNotAllowed"]


def test_errors_401_403_and_throttling(service, gcontrol, account):
    gcontrol.patch_account(account["id"], calendar_access=False)
    with pytest.raises(HttpError) as denied:
        service.calendarList().list().execute()
    assert denied.value.status_code == 403 and reasons(denied.value) == ["insufficientPermissions"]
    gcontrol.patch_account(account["id"], calendar_access=True)
    gcontrol.add_fault("quota_exceeded_403", platform="google", count=1, path_contains="/calendarList")
    with pytest.raises(HttpError) as quota:
        service.calendarList().list().execute()
    assert quota.value.status_code == 403 and reasons(quota.value) == ["quotaExceeded"]


def test_over_https_with_the_emulators_ca(ms_emu):
    # what docs/emulator.md says for https: an httplib2.Http trusting the CA, wrapped with the credentials
    import google_auth_httplib2
    import httplib2
    from google.oauth2.credentials import Credentials
    from googleapiclient.discovery import build

    with ms_emu.sync_control() as control:
        account = control.create_account("google")
        credentials = Credentials(
            None,
            refresh_token=account["refresh_token"],
            token_uri=f"{ms_emu.base_url}/google/token",
            client_id=account["client_id"],
            client_secret=account["client_secret"],
        )
        http = google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(ca_certs=ms_emu.ca_path))
        service = build(
            "calendar",
            "v3",
            http=http,
            static_discovery=True,
            client_options={"api_endpoint": f"{ms_emu.base_url}/google/calendar/v3/"},
        )
        assert service.calendarList().list().execute()["items"][0]["id"] == account["primary_calendar_id"]
