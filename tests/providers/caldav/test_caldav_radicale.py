"""The CalDAV provider against a real Radicale: discovery, collections, sync-collection deltas (one request per
change), recurring overrides, a revoked password, a busy (503) or unreachable server, and the ctag/etag path
forced by a flag (a server without sync-collection: test_caldav_without_sync_collection.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from calsync.providers.base import ChangePage, Credentials, ErrorKind, ProviderError
from calsync.providers.caldav import CalDavProvider
from calsync.providers.ical.cursor import pack, unpack
from calsync_emulator.caldav_front import CalDavFront
from tests.providers.caldav.conftest import Dav, Radicale, provider, vevent

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2027, 1, 1, tzinfo=UTC)


async def pages(p: CalDavProvider, token: str, calendar: str | None, cursor: str | None) -> list[ChangePage]:
    return [page async for page in p.list_changes(token, calendar, window_start=START, window_end=END, cursor=cursor)]


def flat(result: list[ChangePage]) -> tuple[dict[str, Any], list[str], str | None]:
    events = {e.platform_uuid: e for page in result for e in page.events}
    removed = [uuid for page in result for uuid in page.removed_ids]
    return events, removed, result[-1].cursor


async def test_discovery_lists_event_collections_only(account: tuple[Dav, Credentials], http: httpx.AsyncClient):
    dav, credentials = account
    work = await dav.make_calendar("work", "Work")
    await dav.make_calendar("home", "Home")
    await dav.make_calendar("tasks", "Tasks", components="VTODO")
    p = provider(http)
    grant = await p.refresh_access_token(credentials)
    calendars = await p.list_calendars(grant.access_token)
    assert [(c.name, c.is_primary) for c in calendars] == [("Home", True), ("Work", False)]
    assert work in {c.id for c in calendars}
    await dav.put(work, "w", vevent("w", "20260301T090000Z", "Work item"))
    home = next(c.id for c in calendars if c.name == "Home")
    await dav.put(home, "h", vevent("h", "20260301T090000Z", "Home item"))
    assert list(flat(await pages(p, grant.access_token, work, None))[0]) == ["w"]
    assert list(flat(await pages(p, grant.access_token, None, None))[0]) == ["h"]  # None: the first calendar


async def test_discovery_through_well_known(account: tuple[Dav, Credentials], http: httpx.AsyncClient):
    dav, credentials = account
    await dav.make_calendar("only")
    p = provider(http)
    # A URL that is no DAV resource: discovery falls back to /.well-known/caldav, which Radicale redirects to /.
    grant = await p.refresh_access_token(
        Credentials(credentials.client_id, credentials.client_secret, dav.base + "/x/y")
    )
    assert [c.name for c in await p.list_calendars(grant.access_token)] == ["only"]


async def test_sync_collection_create_update_delete_cost_one_request_each(
    account: tuple[Dav, Credentials], http: httpx.AsyncClient
):
    dav, credentials = account
    cal = await dav.make_calendar("main")
    await dav.put(cal, "a", vevent("a", "20260301T090000Z", "Alpha"))
    await dav.put(cal, "b", vevent("b", "20260302T090000Z", "Beta"))
    p = provider(http)
    token = (await p.refresh_access_token(credentials)).access_token
    events, removed, cursor = flat(await pages(p, token, cal, None))
    assert sorted(events) == ["a", "b"] and removed == []
    assert unpack(cursor or "")["mode"] == "sync"

    before = p.http.traffic.requests
    events, removed, cursor = flat(await pages(p, token, cal, cursor))
    assert (events, removed) == ({}, [])
    assert p.http.traffic.requests - before == 1

    await dav.put(cal, "c", vevent("c", "20260303T090000Z", "Gamma"))
    before = p.http.traffic.requests
    events, removed, cursor = flat(await pages(p, token, cal, cursor))
    assert list(events) == ["c"] and events["c"].name == "Gamma" and removed == []
    assert p.http.traffic.requests - before == 1

    await dav.put(cal, "a", vevent("a", "20260301T100000Z", "Alpha moved"))
    before = p.http.traffic.requests
    events, removed, cursor = flat(await pages(p, token, cal, cursor))
    assert list(events) == ["a"] and events["a"].start_time == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert p.http.traffic.requests - before == 1

    await dav.delete(cal, "b")
    before = p.http.traffic.requests
    events, removed, cursor = flat(await pages(p, token, cal, cursor))
    assert events == {} and removed == ["b"]
    assert p.http.traffic.requests - before == 1


async def test_recurring_series_with_override_and_shrinking_rule(
    account: tuple[Dav, Credentials], http: httpx.AsyncClient
):
    dav, credentials = account
    cal = await dav.make_calendar("rec")
    series = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
        "BEGIN:VEVENT\r\nUID:s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Paris:20260302T090000\r\n"
        "DTEND;TZID=Europe/Paris:20260302T100000\r\nRRULE:FREQ=DAILY;COUNT={count}\r\nSUMMARY:Daily\r\n"
        "ATTENDEE;PARTSTAT=DECLINED;CN=Bo:mailto:bo@example.com\r\nORGANIZER;CN=Al:mailto:al@example.com\r\n"
        "END:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:s\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID;TZID=Europe/Paris:20260303T090000\r\n"
        "DTSTART;TZID=Europe/Paris:20260303T140000\r\nDTEND;TZID=Europe/Paris:20260303T150000\r\n"
        "SUMMARY:Daily (moved)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    await dav.put(cal, "s", series.format(count=3))
    p = provider(http)
    token = (await p.refresh_access_token(credentials)).access_token
    events, _, cursor = flat(await pages(p, token, cal, None))
    assert sorted(events) == ["s_20260302T080000Z", "s_20260303T080000Z", "s_20260304T080000Z"]
    moved = events["s_20260303T080000Z"]
    assert (moved.name, moved.start_time, moved.recurring_event_id) == (
        "Daily (moved)",
        datetime(2026, 3, 3, 13, tzinfo=UTC),
        "s",
    )
    first = events["s_20260302T080000Z"]
    assert first.organizer == {"email": "al@example.com", "name": "Al"}
    assert [(a.email, a.response_status) for a in first.attendees] == [("bo@example.com", "declined")]

    await dav.put(cal, "s", series.format(count=2))
    events, removed, _ = flat(await pages(p, token, cal, cursor))
    assert sorted(events) == ["s_20260302T080000Z", "s_20260303T080000Z"]
    assert removed == ["s_20260304T080000Z"]


async def test_changed_password_disconnects_with_a_reason(radicale: Radicale, http: httpx.AsyncClient):
    user, password = radicale.add_user("first")
    dav = Dav(http, radicale.url, user, password)
    cal = await dav.make_calendar("c")
    p = provider(http, platform="icloud")
    token = (await p.refresh_access_token(Credentials(user, password, radicale.url + "/"))).access_token
    radicale.set_password(user, "second")
    with pytest.raises(ProviderError) as caught:
        await pages(p, token, cal, None)
    assert caught.value.kind is ErrorKind.GRANT_REVOKED and caught.value.disconnects
    assert caught.value.status == 401 and "App-Specific Passwords" in caught.value.message
    assert "first" not in caught.value.message
    with pytest.raises(ProviderError) as again:
        await p.refresh_access_token(Credentials(user, password, radicale.url + "/"))
    assert again.value.kind is ErrorKind.GRANT_REVOKED


async def test_invalid_sync_token_asks_for_a_full_relist(account: tuple[Dav, Credentials], http: httpx.AsyncClient):
    dav, credentials = account
    cal = await dav.make_calendar("t")
    await dav.put(cal, "a", vevent("a", "20260301T090000Z"))
    p = provider(http)
    token = (await p.refresh_access_token(credentials)).access_token
    _, _, cursor = flat(await pages(p, token, cal, None))
    state = unpack(cursor or "")
    assert state is not None
    state["token"] = "http://radicale.org/ns/sync/" + "0" * 64
    with pytest.raises(ProviderError) as caught:
        await pages(p, token, cal, pack(state))
    assert caught.value.kind is ErrorKind.SYNC_TOKEN_EXPIRED


async def test_deleted_collection_is_calendar_gone(account: tuple[Dav, Credentials], http: httpx.AsyncClient):
    dav, credentials = account
    cal = await dav.make_calendar("gone")
    p = provider(http)
    token = (await p.refresh_access_token(credentials)).access_token
    _, _, cursor = flat(await pages(p, token, cal, None))
    assert (await http.request("DELETE", cal, auth=dav.auth)).status_code in (200, 204)
    with pytest.raises(ProviderError) as caught:
        await pages(p, token, cal, cursor)
    assert caught.value.kind is ErrorKind.CALENDAR_GONE and caught.value.code == "collection_gone"


async def test_etag_fallback_forced(account: tuple[Dav, Credentials], http: httpx.AsyncClient):
    dav, credentials = account
    cal = await dav.make_calendar("f")
    for uid in ("a", "b", "c"):
        await dav.put(cal, uid, vevent(uid, "20260301T090000Z"))
    p = provider(http, use_sync_collection=False)
    token = (await p.refresh_access_token(credentials)).access_token
    events, _, cursor = flat(await pages(p, token, cal, None))
    assert sorted(events) == ["a", "b", "c"] and unpack(cursor or "")["mode"] == "etag"

    before = p.http.traffic.requests
    events, removed, cursor = flat(await pages(p, token, cal, cursor))
    assert (events, removed) == ({}, []) and p.http.traffic.requests - before == 1  # the ctag alone

    await dav.put(cal, "b", vevent("b", "20260305T090000Z", "B2"))
    await dav.delete(cal, "c")
    before = p.http.traffic.requests
    events, removed, cursor = flat(await pages(p, token, cal, cursor))
    assert list(events) == ["b"] and removed == ["c"]
    assert p.http.traffic.methods[before:] == ["PROPFIND", "PROPFIND", "REPORT"]  # ctag, etags, multiget of b


async def test_get_event_by_instance_id(account: tuple[Dav, Credentials], http: httpx.AsyncClient):
    dav, credentials = account
    cal = await dav.make_calendar("g")
    now = datetime.now(UTC)
    start = now.replace(hour=9, minute=0, second=0, microsecond=0)
    stamp = start.strftime("%Y%m%dT%H%M%SZ")
    await dav.put(cal, "one_off", vevent("one_off", stamp, "Single"))
    await dav.put(cal, "ser", vevent("ser", stamp, "Series", extra="RRULE:FREQ=DAILY;COUNT=3\r\n"))
    p = provider(http)
    token = (await p.refresh_access_token(credentials)).access_token
    single = await p.get_event(token, cal, "one_off")
    assert single is not None and single.name == "Single"
    second = (start + (datetime(2026, 1, 2, tzinfo=UTC) - datetime(2026, 1, 1, tzinfo=UTC))).strftime("%Y%m%dT%H%M%SZ")
    instance = await p.get_event(token, cal, f"ser_{second}")
    assert instance is not None and instance.recurring_event_id == "ser"
    assert await p.get_event(token, cal, "missing") is None


async def test_a_busy_or_unreachable_server_is_throttled_or_transient_then_syncs(
    radicale: Radicale, http: httpx.AsyncClient
):
    user, password = radicale.add_user()
    dav = Dav(http, radicale.url, user, password)
    cal = await dav.make_calendar("busy")
    front = CalDavFront(radicale.url)
    await front.start()
    try:
        p = provider(http)
        token = (await p.refresh_access_token(Credentials(user, password, front.url + "/"))).access_token
        collection = f"{front.url}/{user}/busy/"
        _, _, cursor = flat(await pages(p, token, collection, None))

        front.unavailable(60, retry_after=7, requests=1)  # iCloud's 503 with Retry-After
        with pytest.raises(ProviderError) as busy:
            await pages(p, token, collection, cursor)
        assert busy.value.kind is ErrorKind.THROTTLED and busy.value.retry_after == 7
        await front.down()
        with pytest.raises(ProviderError) as unreachable:
            await pages(p, token, collection, cursor)
        assert unreachable.value.kind is ErrorKind.TRANSIENT

        await front.up()
        await dav.put(cal, "a", vevent("a", "20260301T090000Z", "After"))
        events, removed, _ = flat(await pages(p, token, collection, cursor))
        assert list(events) == ["a"] and removed == [] and front.answers["unavailable"] == 1
    finally:
        await front.stop()
