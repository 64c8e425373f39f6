"""GoogleProvider over a MockTransport: what it sends, how it pages, what it returns."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from calsync.clock import FrozenClock
from calsync.providers.base import Credentials, ErrorKind, ProviderError, PushChannel
from calsync.providers.google import GoogleProvider

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # the conftest clock
Recorder = Any  # conftest.Recorder
CREDS = Credentials(client_id="cid.apps.googleusercontent.com", client_secret="s3cret", refresh_token="1//refresh")
WINDOW = {
    "window_start": datetime(2026, 2, 28, 12, 0, 0, 123456, tzinfo=UTC),
    "window_end": datetime(2026, 3, 29, 12, tzinfo=UTC),
}


@pytest.fixture
def google(http: httpx.AsyncClient, clock: FrozenClock) -> GoogleProvider:
    return GoogleProvider(
        http,
        token_url="https://oauth.test/token",
        api_url="https://api.test/calendar/v3/",
        timeout_seconds=5,
        clock=clock,
    )


def _event(event_id: str) -> dict[str, object]:
    return {"id": event_id, "status": "confirmed", "start": {"date": "2026-03-02"}, "end": {"date": "2026-03-03"}}


async def test_refresh_sends_the_form_and_computes_expiry(google: GoogleProvider, recorder: Recorder) -> None:
    recorder.json(200, {"access_token": "ya29.x", "expires_in": 3599, "scope": "s", "token_type": "Bearer"})
    grant = await google.refresh_access_token(CREDS)
    assert grant.access_token == "ya29.x"
    assert grant.expires_at == NOW + timedelta(seconds=3599)
    assert grant.refresh_token is None
    request = recorder.requests[0]
    assert (request.method, str(request.url)) == ("POST", "https://oauth.test/token")
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = dict(httpx.QueryParams(request.content.decode()))
    assert form == {
        "grant_type": "refresh_token",
        "client_id": CREDS.client_id,
        "client_secret": "s3cret",
        "refresh_token": "1//refresh",
    }


async def test_refresh_passes_on_a_new_refresh_token(google: GoogleProvider, recorder: Recorder) -> None:
    recorder.json(200, {"access_token": "ya29.x", "expires_in": "3600", "refresh_token": "1//new"})
    grant = await google.refresh_access_token(CREDS)
    assert grant.refresh_token == "1//new" and grant.expires_at == NOW + timedelta(hours=1)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, json={"expires_in": 3599}),
        httpx.Response(200, json={"access_token": "x"}),
        httpx.Response(200, text="<html>captive portal</html>"),
    ],
)
async def test_refresh_with_an_unusable_success_reply(
    google: GoogleProvider, recorder: Recorder, response: httpx.Response
) -> None:
    recorder.add(response)
    with pytest.raises(ProviderError) as info:
        await google.refresh_access_token(CREDS)
    assert info.value.kind is ErrorKind.INVALID_REQUEST


async def test_refresh_revoked_never_leaks_secrets(google: GoogleProvider, recorder: Recorder) -> None:
    recorder.json(
        400, {"error": "invalid_grant", "error_description": "Token 1//refresh for client secret s3cret revoked"}
    )
    with pytest.raises(ProviderError) as info:
        await google.refresh_access_token(CREDS)
    assert info.value.kind is ErrorKind.GRANT_REVOKED and info.value.disconnects
    assert "1//refresh" not in info.value.message and "s3cret" not in info.value.message
    assert "1//refresh" not in repr(info.value)


async def test_full_list_pages_and_ends_with_the_sync_token(google: GoogleProvider, recorder: Recorder) -> None:
    recorder.json(200, {"items": [], "nextPageToken": "p1", "timeZone": "Europe/Zurich"})  # empty page, still a token
    recorder.json(200, {"items": [_event("a"), _event("b")], "nextPageToken": "p2", "timeZone": "Europe/Zurich"})
    recorder.json(
        200,
        {
            "items": [_event("c"), {"id": "d", "status": "cancelled"}],
            "nextSyncToken": "sync1",
            "timeZone": "Europe/Zurich",
        },
    )
    pages = [
        page
        async for page in google.list_changes(
            "ya29.tok", "en.usa#holiday@group.v.calendar.google.com", cursor=None, **WINDOW
        )
    ]
    assert [[e.platform_uuid for e in p.events] for p in pages] == [[], ["a", "b"], ["c", "d"]]
    assert [p.cursor for p in pages] == [None, None, "sync1"]
    assert pages[1].events[0].time_zone == "Europe/Zurich"  # all-day zone from the calendar
    assert pages[2].events[1].is_deleted
    first = recorder.requests[0]
    assert first.url.raw_path.startswith(b"/calendar/v3/calendars/en.usa%23holiday@group.v.calendar.google.com/events?")
    assert first.headers["authorization"] == "Bearer ya29.tok"
    assert dict(first.url.params) == {
        "singleEvents": "true",
        "maxResults": "2500",
        "showDeleted": "true",
        "timeMin": "2026-02-28T12:00:00Z",
        "timeMax": "2026-03-29T12:00:00Z",
    }
    assert recorder.requests[1].url.params["pageToken"] == "p1"
    assert recorder.requests[2].url.params["pageToken"] == "p2"
    assert recorder.requests[2].url.params["timeMin"] == "2026-02-28T12:00:00Z"  # the same query on every page


async def test_incremental_list_sends_only_the_sync_token(google: GoogleProvider, recorder: Recorder) -> None:
    recorder.json(200, {"items": [{"id": "x", "status": "cancelled"}], "nextSyncToken": "sync2"})
    pages = [page async for page in google.list_changes("tok", None, cursor="sync1", **WINDOW)]
    assert pages[0].cursor == "sync2"
    request = recorder.requests[0]
    assert request.url.path == "/calendar/v3/calendars/primary/events"
    assert dict(request.url.params) == {"singleEvents": "true", "maxResults": "2500", "syncToken": "sync1"}


async def test_expired_sync_token(google: GoogleProvider, recorder: Recorder) -> None:
    body = {
        "error": {
            "errors": [{"domain": "calendar", "reason": "fullSyncRequired", "message": "m"}],
            "code": 410,
            "message": "m",
        }
    }
    recorder.json(410, body)
    with pytest.raises(ProviderError) as info:
        [page async for page in google.list_changes("tok", None, cursor="old", **WINDOW)]
    assert info.value.kind is ErrorKind.SYNC_TOKEN_EXPIRED and info.value.code == "fullSyncRequired"


async def test_last_page_without_any_token_is_an_error(google: GoogleProvider, recorder: Recorder) -> None:
    recorder.json(200, {"items": []})
    with pytest.raises(ProviderError) as info:
        [page async for page in google.list_changes("tok", None, cursor=None, **WINDOW)]
    assert info.value.kind is ErrorKind.INVALID_REQUEST


async def test_timeout_mid_listing_is_transient(google: GoogleProvider, recorder: Recorder) -> None:
    recorder.json(200, {"items": [_event("a")], "nextPageToken": "p1"})
    recorder.add(httpx.ReadTimeout("slow"))
    pages = []
    with pytest.raises(ProviderError) as info:
        async for page in google.list_changes("tok", None, cursor=None, **WINDOW):
            pages.append(page)
    assert len(pages) == 1 and info.value.kind is ErrorKind.TRANSIENT


async def test_get_event(google: GoogleProvider, recorder: Recorder) -> None:
    recorder.json(200, _event("e/1"))
    recorder.json(
        404, {"error": {"errors": [{"domain": "global", "reason": "notFound"}], "code": 404, "message": "Not Found"}}
    )
    recorder.json(
        410,
        {
            "error": {
                "errors": [{"domain": "global", "reason": "deleted"}],
                "code": 410,
                "message": "Resource has been deleted",
            }
        },
    )
    event = await google.get_event("tok", "cal@example.com", "e/1")
    assert event is not None and event.platform_uuid == "e/1"
    assert recorder.requests[0].url.raw_path == b"/calendar/v3/calendars/cal@example.com/events/e%2F1"
    assert await google.get_event("tok", None, "missing") is None
    assert await google.get_event("tok", None, "deleted") is None


async def test_list_calendars_pages(google: GoogleProvider, recorder: Recorder) -> None:
    recorder.json(
        200,
        {
            "items": [
                {
                    "id": "me@example.com",
                    "summary": "Me",
                    "primary": True,
                    "timeZone": "Europe/Zurich",
                    "accessRole": "owner",
                }
            ],
            "nextPageToken": "n",
        },
    )
    recorder.json(
        200,
        {
            "items": [
                {"id": "x#holiday", "summary": "Holidays", "summaryOverride": "Feiertage", "accessRole": "reader"},
                {"summary": "no id"},
            ]
        },
    )
    calendars = await google.list_calendars("tok")
    assert [(c.id, c.name, c.is_primary, c.time_zone, c.can_edit) for c in calendars] == [
        ("me@example.com", "Me", True, "Europe/Zurich", True),
        ("x#holiday", "Feiertage", False, None, False),
    ]
    assert recorder.requests[0].url.path == "/calendar/v3/users/me/calendarList"
    assert recorder.requests[1].url.params["pageToken"] == "n"


async def test_open_channel(google: GoogleProvider, recorder: Recorder) -> None:
    expires = NOW + timedelta(days=6)
    recorder.handler = lambda request: httpx.Response(
        200,
        json={
            "kind": "api#channel",
            "id": json.loads(request.content)["id"],
            "resourceId": "res1",
            "expiration": str(int((NOW + timedelta(days=5)).timestamp() * 1000)),
        },
    )
    channel = await google.open_channel(
        "tok", None, address="https://svc.example/hook", lifecycle_address=None, token="chan-token", expires_at=expires
    )
    request = recorder.requests[0]
    assert (request.method, request.url.path) == ("POST", "/calendar/v3/calendars/primary/events/watch")
    body = json.loads(request.content)
    assert (
        body["type"] == "web_hook" and body["address"] == "https://svc.example/hook" and body["token"] == "chan-token"
    )
    assert body["params"] == {"ttl": str(6 * 86400)}
    assert len(body["id"]) == 36
    assert channel == PushChannel(
        id=body["id"], resource_id="res1", expires_at=NOW + timedelta(days=5), token="chan-token"
    )


async def test_open_channel_on_a_missing_calendar(google: GoogleProvider, recorder: Recorder) -> None:
    recorder.json(404, {"error": {"errors": [{"reason": "notFound"}], "code": 404}})
    with pytest.raises(ProviderError) as info:
        await google.open_channel("tok", "nope", address="https://a", lifecycle_address=None, token="t", expires_at=NOW)
    assert info.value.kind is ErrorKind.CALENDAR_GONE


async def test_renew_is_not_possible_and_close_tolerates_gone(google: GoogleProvider, recorder: Recorder) -> None:
    channel = PushChannel(id="c1", resource_id="r1", expires_at=NOW, token="t")
    assert await google.renew_channel("tok", channel, NOW + timedelta(days=1)) is None
    assert recorder.requests == []
    recorder.add(httpx.Response(204))
    recorder.json(
        404,
        {
            "error": {
                "errors": [{"reason": "notFound"}],
                "code": 404,
                "message": "Channel 'c1' not found for project '1'",
            }
        },
    )
    await google.close_channel("tok", channel)
    await google.close_channel("tok", channel)
    assert recorder.requests[0].url.path == "/calendar/v3/channels/stop"
    assert json.loads(recorder.requests[0].content) == {"id": "c1", "resourceId": "r1"}
    recorder.add(httpx.Response(500))
    with pytest.raises(ProviderError) as info:
        await google.close_channel("tok", channel)
    assert info.value.kind is ErrorKind.TRANSIENT
