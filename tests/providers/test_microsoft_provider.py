"""MicrosoftProvider over a MockTransport: token rotation, delta paging, @removed, subscriptions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from calsync.clock import FrozenClock
from calsync.providers.base import Credentials, ErrorKind, ProviderError, PushChannel
from calsync.providers.microsoft import SCOPE, MicrosoftProvider

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # the conftest clock
Recorder = Any  # conftest.Recorder
GRAPH = "https://graph.test/v1.0"
CREDS = Credentials(client_id="00000000-app", client_secret="s3cret~value", refresh_token="M.C5_refresh")
WINDOW = {"window_start": datetime(2026, 2, 28, 12, tzinfo=UTC), "window_end": datetime(2026, 3, 29, 12, tzinfo=UTC)}


@pytest.fixture
def microsoft(http: httpx.AsyncClient, clock: FrozenClock) -> MicrosoftProvider:
    return MicrosoftProvider(
        http, login_url="https://login.test/", graph_url=GRAPH + "/", timeout_seconds=5, page_size=50, clock=clock
    )


def _event(event_id: str) -> dict[str, object]:
    return {
        "id": event_id,
        "subject": "S",
        "isAllDay": False,
        "start": {"dateTime": "2026-03-02T08:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-03-02T09:00:00.0000000", "timeZone": "UTC"},
    }


async def test_refresh_rotates_the_refresh_token(microsoft: MicrosoftProvider, recorder: Recorder) -> None:
    recorder.json(
        200,
        {
            "token_type": "Bearer",
            "scope": "x",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": "eyJ0",
            "refresh_token": "M.C5_new",
        },
    )
    grant = await microsoft.refresh_access_token(CREDS)
    assert (grant.access_token, grant.refresh_token, grant.expires_at) == (
        "eyJ0",
        "M.C5_new",
        NOW + timedelta(seconds=3599),
    )
    request = recorder.requests[0]
    assert str(request.url) == "https://login.test/common/oauth2/v2.0/token"
    form = dict(httpx.QueryParams(request.content.decode()))
    assert form == {
        "grant_type": "refresh_token",
        "client_id": "00000000-app",
        "client_secret": "s3cret~value",
        "refresh_token": "M.C5_refresh",
        "scope": "offline_access https://graph.microsoft.com/Calendars.Read",
    }
    assert form["scope"] == SCOPE


async def test_refresh_revoked(microsoft: MicrosoftProvider, recorder: Recorder) -> None:
    recorder.json(
        400,
        {
            "error": "invalid_grant",
            "error_description": "AADSTS70000: The provided value for 'refresh_token' (M.C5_refresh) is not valid.",
            "error_codes": [70000],
        },
    )
    with pytest.raises(ProviderError) as info:
        await microsoft.refresh_access_token(CREDS)
    assert (info.value.kind, info.value.code) == (ErrorKind.GRANT_REVOKED, "AADSTS70000")
    assert "M.C5_refresh" not in info.value.message


async def test_full_delta_follows_next_links_and_returns_the_delta_link(
    microsoft: MicrosoftProvider, recorder: Recorder
) -> None:
    recorder.json(
        200,
        {
            "@odata.context": "c",
            "value": [],
            "@odata.nextLink": f"{GRAPH}/me/calendars/cal%2F1/calendarView/delta?$skiptoken=s1",
        },
    )
    recorder.json(
        200,
        {
            "value": [
                _event("e1"),
                {"@odata.type": "#microsoft.graph.event", "id": "gone1", "@removed": {"reason": "deleted"}},
                {"no": "id"},
            ],
            "@odata.nextLink": f"{GRAPH}/me/calendars/cal%2F1/calendarView/delta?$skiptoken=s2",
        },
    )
    recorder.json(
        200,
        {
            "value": [_event("e2"), {"id": "gone2", "@removed": {"reason": "changed"}}],
            "@odata.deltaLink": f"{GRAPH}/me/calendars/cal%2F1/calendarView/delta?$deltatoken=d1",
        },
    )
    pages = [page async for page in microsoft.list_changes("tok", "cal/1", cursor=None, **WINDOW)]
    assert [[e.platform_uuid for e in p.events] for p in pages] == [[], ["e1"], ["e2"]]
    assert [p.removed_ids for p in pages] == [[], ["gone1"], ["gone2"]]
    assert [p.cursor for p in pages] == [None, None, f"{GRAPH}/me/calendars/cal%2F1/calendarView/delta?$deltatoken=d1"]
    first, second = recorder.requests[0], recorder.requests[1]
    assert (
        first.url.raw_path
        == b"/v1.0/me/calendars/cal%2F1/calendarView/delta?startDateTime=2026-02-28T12%3A00%3A00Z&endDateTime=2026-03-29T12%3A00%3A00Z"
    )
    for request in recorder.requests:
        assert request.headers["prefer"] == 'outlook.timezone="UTC", odata.maxpagesize=50'
        assert request.headers["authorization"] == "Bearer tok"
    # Links are followed verbatim: no parameters added.
    assert str(second.url) == f"{GRAPH}/me/calendars/cal%2F1/calendarView/delta?$skiptoken=s1"


async def test_incremental_delta_gets_the_cursor_verbatim(microsoft: MicrosoftProvider, recorder: Recorder) -> None:
    cursor = f"{GRAPH}/me/calendarView/delta?$deltatoken=d1"
    recorder.json(
        200,
        {
            "value": [{"id": "x", "@removed": {"reason": "deleted"}}],
            "@odata.deltaLink": f"{GRAPH}/me/calendarView/delta?$deltatoken=d2",
        },
    )
    pages = [page async for page in microsoft.list_changes("tok", None, cursor=cursor, **WINDOW)]
    assert str(recorder.requests[0].url) == cursor
    assert pages[0].removed_ids == ["x"] and pages[0].cursor.endswith("d2")  # type: ignore[union-attr]


async def test_primary_calendar_delta_path(microsoft: MicrosoftProvider, recorder: Recorder) -> None:
    recorder.json(200, {"value": [], "@odata.deltaLink": f"{GRAPH}/me/calendarView/delta?$deltatoken=d"})
    [page async for page in microsoft.list_changes("tok", None, cursor=None, **WINDOW)]
    assert recorder.requests[0].url.path == "/v1.0/me/calendarView/delta"


@pytest.mark.parametrize("cursor", ["https://evil.example/steal?x", "not a url", "/me/calendarView/delta", ""])
async def test_unusable_stored_cursor_means_full_sync(
    microsoft: MicrosoftProvider, recorder: Recorder, cursor: str
) -> None:
    with pytest.raises(ProviderError) as info:
        [page async for page in microsoft.list_changes("tok", None, cursor=cursor, **WINDOW)]
    assert info.value.kind is ErrorKind.SYNC_TOKEN_EXPIRED and not info.value.disconnects
    assert recorder.requests == []


async def test_next_link_to_another_host_is_refused(microsoft: MicrosoftProvider, recorder: Recorder) -> None:
    recorder.json(200, {"value": [], "@odata.nextLink": "https://evil.example/steal?$skiptoken=x"})
    with pytest.raises(ProviderError) as info:
        [page async for page in microsoft.list_changes("tok", None, cursor=None, **WINDOW)]
    assert info.value.kind is ErrorKind.INVALID_REQUEST
    assert len(recorder.requests) == 1  # the bearer token never went to evil.example


@pytest.mark.parametrize("code", ["SyncStateNotFound", "syncStateNotFound", "resyncRequired"])
async def test_expired_delta_token(microsoft: MicrosoftProvider, recorder: Recorder, code: str) -> None:
    recorder.json(410, {"error": {"code": code, "message": "The sync state generation is not found", "innerError": {}}})
    with pytest.raises(ProviderError) as info:
        [
            page
            async for page in microsoft.list_changes(
                "tok", None, cursor=f"{GRAPH}/me/calendarView/delta?$deltatoken=old", **WINDOW
            )
        ]
    assert info.value.kind is ErrorKind.SYNC_TOKEN_EXPIRED


async def test_throttled_delta(microsoft: MicrosoftProvider, recorder: Recorder) -> None:
    recorder.json(
        429, {"error": {"code": "ApplicationThrottled", "message": "MailboxConcurrency"}}, headers={"Retry-After": "10"}
    )
    with pytest.raises(ProviderError) as info:
        [page async for page in microsoft.list_changes("tok", None, cursor=None, **WINDOW)]
    assert (info.value.kind, info.value.retry_after, info.value.disconnects) == (ErrorKind.THROTTLED, 10.0, False)


async def test_get_event(microsoft: MicrosoftProvider, recorder: Recorder) -> None:
    recorder.json(200, _event("AAMk/1="))
    recorder.json(
        404, {"error": {"code": "ErrorItemNotFound", "message": "The specified object was not found in the store."}}
    )
    event = await microsoft.get_event("tok", "cal1", "AAMk/1=")
    assert event is not None and event.start_time == datetime(2026, 3, 2, 8, tzinfo=UTC)
    assert recorder.requests[0].url.raw_path == b"/v1.0/me/calendars/cal1/events/AAMk%2F1="
    assert recorder.requests[0].headers["prefer"] == 'outlook.timezone="UTC"'
    assert await microsoft.get_event("tok", None, "gone") is None
    assert recorder.requests[1].url.path == "/v1.0/me/events/gone"


async def test_list_calendars(microsoft: MicrosoftProvider, recorder: Recorder) -> None:
    recorder.json(
        200,
        {
            "value": [{"id": "c1", "name": "Calendar", "isDefaultCalendar": True, "canEdit": True}],
            "@odata.nextLink": f"{GRAPH}/me/calendars?$skip=1",
        },
    )
    recorder.json(200, {"value": [{"id": "c2", "name": "Birthdays", "isDefaultCalendar": False, "canEdit": False}]})
    calendars = await microsoft.list_calendars("tok")
    assert [(c.id, c.name, c.is_primary, c.can_edit) for c in calendars] == [
        ("c1", "Calendar", True, True),
        ("c2", "Birthdays", False, False),
    ]
    assert recorder.requests[0].url.params["$select"] == "id,name,isDefaultCalendar,canEdit"
    assert str(recorder.requests[1].url) == f"{GRAPH}/me/calendars?$skip=1"


async def test_mailbox_unavailable_disconnects(microsoft: MicrosoftProvider, recorder: Recorder) -> None:
    recorder.json(
        404,
        {
            "error": {
                "code": "MailboxNotEnabledForRESTAPI",
                "message": "REST API is not yet supported for this mailbox.",
            }
        },
    )
    with pytest.raises(ProviderError) as info:
        await microsoft.list_calendars("tok")
    assert info.value.kind is ErrorKind.MAILBOX_UNAVAILABLE and info.value.disconnects


async def test_subscription_lifecycle(microsoft: MicrosoftProvider, recorder: Recorder) -> None:
    asked = NOW + timedelta(days=6)
    recorder.json(
        201,
        {
            "id": "sub1",
            "resource": "me/calendars/cal1/events",
            "clientState": "cs",
            "expirationDateTime": "2026-03-06T12:00:00.0000000Z",
        },
    )
    channel = await microsoft.open_channel(
        "tok",
        "cal1",
        address="https://svc/notify",
        lifecycle_address="https://svc/lifecycle",
        token="cs",
        expires_at=asked,
    )
    assert channel == PushChannel(
        id="sub1", resource_id=None, expires_at=datetime(2026, 3, 6, 12, tzinfo=UTC), token="cs"
    )
    create = recorder.requests[0]
    assert (create.method, create.url.path) == ("POST", "/v1.0/subscriptions")
    assert json.loads(create.content) == {
        "changeType": "created,updated,deleted",
        "notificationUrl": "https://svc/notify",
        "lifecycleNotificationUrl": "https://svc/lifecycle",
        "resource": "me/calendars/cal1/events",
        "expirationDateTime": "2026-03-07T12:00:00Z",
        "clientState": "cs",
        "latestSupportedTlsVersion": "v1_2",
    }

    recorder.json(200, {"id": "sub1", "expirationDateTime": "2026-03-08T12:00:00Z"})
    renewed = await microsoft.renew_channel("tok", channel, NOW + timedelta(days=7))
    assert renewed is not None and renewed.expires_at == datetime(2026, 3, 8, 12, tzinfo=UTC) and renewed.token == "cs"
    patch = recorder.requests[1]
    assert (patch.method, patch.url.path, json.loads(patch.content)) == (
        "PATCH",
        "/v1.0/subscriptions/sub1",
        {"expirationDateTime": "2026-03-08T12:00:00Z"},
    )

    recorder.add(httpx.Response(204))
    recorder.json(404, {"error": {"code": "ResourceNotFound", "message": "The object was not found."}})
    await microsoft.close_channel("tok", channel)
    await microsoft.close_channel("tok", channel)
    assert [r.method for r in recorder.requests[2:]] == ["DELETE", "DELETE"]


async def test_subscription_on_the_primary_calendar_without_lifecycle(
    microsoft: MicrosoftProvider, recorder: Recorder
) -> None:
    recorder.json(201, {"id": "sub2"})
    channel = await microsoft.open_channel(
        "tok",
        None,
        address="https://svc/notify",
        lifecycle_address=None,
        token="cs",
        expires_at=NOW + timedelta(days=2),
    )
    body = json.loads(recorder.requests[0].content)
    assert body["resource"] == "me/events" and "lifecycleNotificationUrl" not in body
    assert channel.expires_at == NOW + timedelta(days=2)  # Graph did not say: what we asked for


async def test_renew_of_a_deleted_subscription_is_not_found(microsoft: MicrosoftProvider, recorder: Recorder) -> None:
    recorder.json(404, {"error": {"code": "ResourceNotFound", "message": "x"}})
    with pytest.raises(ProviderError) as info:
        await microsoft.renew_channel("tok", PushChannel(id="s", resource_id=None, expires_at=NOW, token="t"), NOW)
    assert info.value.kind is ErrorKind.NOT_FOUND
