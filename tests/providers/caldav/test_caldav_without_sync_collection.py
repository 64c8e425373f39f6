"""The ctag/etag path against a real server configuration without RFC 6578: Radicale behind a front that refuses the
sync-collection REPORT with 403 `DAV:supported-report` (calsync_emulator.caldav_front), as servers without it do.
The provider discovers the lack on its first listing and then syncs by getctag, etags and calendar-multiget:
creates, updates, deletes and recurring overrides, at the provider and through the API on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from calsync.context import AppContext
from calsync.providers.base import ChangePage, Credentials
from calsync.providers.caldav import CalDavProvider
from calsync.providers.ical.cursor import unpack
from calsync_emulator.caldav_front import CalDavFront
from tests.bots.support import tomorrow
from tests.providers.caldav.conftest import Dav, Radicale, provider, vevent
from tests.providers.caldav.test_caldav_api import create, ics_event, live_names, settings  # noqa: F401 - a fixture
from tests.support.service import Tenant
from tests.sync.conftest import api_port, api_url, list_events, sync_once  # noqa: F401 - fixtures among them

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2027, 1, 1, tzinfo=UTC)


def series(uid: str, first: datetime, count: int, *, moved: datetime | None = None, name: str = "Daily") -> str:
    """A daily series in UTC; with `moved`, its second instance is overridden to start then, renamed."""
    fmt = "%Y%m%dT%H%M%SZ"
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync tests//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{first.strftime(fmt)}\r\n"
        f"DTEND:{(first + timedelta(hours=1)).strftime(fmt)}\r\nRRULE:FREQ=DAILY;COUNT={count}\r\n"
        f"SUMMARY:{name}\r\nEND:VEVENT\r\n"
    )
    if moved is not None:
        text += (
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
            f"RECURRENCE-ID:{(first + timedelta(days=1)).strftime(fmt)}\r\nDTSTART:{moved.strftime(fmt)}\r\n"
            f"DTEND:{(moved + timedelta(hours=1)).strftime(fmt)}\r\nSUMMARY:{name} (moved)\r\nEND:VEVENT\r\n"
        )
    return text + "END:VCALENDAR\r\n"


async def listing(
    p: CalDavProvider, token: str, calendar: str, cursor: str | None
) -> tuple[dict[str, Any], list[str], str]:
    pages: list[ChangePage] = [
        page async for page in p.list_changes(token, calendar, window_start=START, window_end=END, cursor=cursor)
    ]
    events = {e.platform_uuid: e for page in pages for e in page.events}
    removed = [uuid for page in pages for uuid in page.removed_ids]
    assert pages[-1].cursor is not None
    return events, removed, pages[-1].cursor


async def test_provider_discovers_the_lack_and_syncs_by_ctag_and_etags(
    radicale: Radicale, front: CalDavFront, http: httpx.AsyncClient
) -> None:
    user, password = radicale.add_user()
    dav = Dav(http, radicale.url, user, password)  # the user's calendar app, straight to the server
    await dav.make_calendar("main")
    cal = dav.calendar_url("main")
    first = datetime(2026, 3, 2, 9, tzinfo=UTC)
    await dav.put(cal, "a", vevent("a", "20260301T090000Z", "Alpha"))
    await dav.put(cal, "b", vevent("b", "20260301T120000Z", "Beta"))
    await dav.put(cal, "s", series("s", first, 3))

    p = provider(http)
    token = (await p.refresh_access_token(Credentials(user, password, front.url + "/"))).access_token
    collection = f"{front.url}/{user}/main/"
    events, removed, cursor = await listing(p, token, collection, None)
    assert sorted(events) == ["a", "b", "s_20260302T090000Z", "s_20260303T090000Z", "s_20260304T090000Z"]
    assert removed == [] and unpack(cursor)["mode"] == "etag"
    assert front.answers["refused_sync"] == 1

    before = p.http.traffic.requests
    assert (await listing(p, token, collection, cursor))[:2] == ({}, [])
    assert p.http.traffic.methods[before:] == ["PROPFIND"]  # the ctag alone

    # A create and an update: ctag, etags, one multiget of both.
    await dav.put(cal, "c", vevent("c", "20260304T090000Z", "Gamma"))
    await dav.put(cal, "a", vevent("a", "20260301T100000Z", "Alpha moved"))
    before = p.http.traffic.requests
    events, removed, cursor = await listing(p, token, collection, cursor)
    assert sorted(events) == ["a", "c"] and removed == []
    assert events["a"].start_time == datetime(2026, 3, 1, 10, tzinfo=UTC) and events["c"].name == "Gamma"
    assert p.http.traffic.methods[before:] == ["PROPFIND", "PROPFIND", "REPORT"]

    # An overridden instance: the series' resource changes, its instances come again, the moved one moved.
    await dav.put(cal, "s", series("s", first, 3, moved=first + timedelta(days=1, hours=5)))
    events, removed, cursor = await listing(p, token, collection, cursor)
    assert sorted(events) == ["s_20260302T090000Z", "s_20260303T090000Z", "s_20260304T090000Z"] and removed == []
    moved = events["s_20260303T090000Z"]
    assert (moved.name, moved.start_time, moved.recurring_event_id) == (
        "Daily (moved)",
        datetime(2026, 3, 3, 14, tzinfo=UTC),
        "s",
    )

    # A deletion costs no multiget; a rule that shrank removes exactly the instance it lost.
    await dav.delete(cal, "b")
    before = p.http.traffic.requests
    events, removed, cursor = await listing(p, token, collection, cursor)
    assert events == {} and removed == ["b"]
    assert p.http.traffic.methods[before:] == ["PROPFIND", "PROPFIND"]
    await dav.put(cal, "s", series("s", first, 2, moved=first + timedelta(days=1, hours=5)))
    events, removed, cursor = await listing(p, token, collection, cursor)
    assert sorted(events) == ["s_20260302T090000Z", "s_20260303T090000Z"] and removed == ["s_20260304T090000Z"]

    assert front.answers["refused_sync"] == 1  # the incremental syncs never asked for sync-collection again


async def test_caldav_calendar_without_sync_collection_through_the_api(
    context: AppContext, tenant: Tenant, radicale: Radicale, front: CalDavFront, http: httpx.AsyncClient
) -> None:
    user, password = radicale.add_user()
    dav = Dav(http, radicale.url, user, password)
    cal = await dav.make_calendar("work")
    start = tomorrow()
    await dav.put(cal, "a", ics_event("a", start, "Planning"))
    await dav.put(cal, "b", ics_event("b", start + timedelta(hours=2), "Review"))
    body = {"platform": "caldav", "server_url": front.url + "/", "username": user, "password": password}
    created = await create(tenant, body)
    await sync_once(context, created["id"])
    assert await live_names(tenant, created["id"]) == ["Planning", "Review"]
    assert front.answers["refused_sync"] >= 1
    refused = front.answers["refused_sync"]

    await dav.put(cal, "a", ics_event("a", start + timedelta(minutes=30), "Planning (later)"))
    await dav.delete(cal, "b")
    await dav.put(cal, "c", ics_event("c", start + timedelta(hours=4), "Retro"))
    await dav.put(cal, "s", series("s", start + timedelta(hours=6), 3, moved=start + timedelta(days=1, hours=8)))
    await sync_once(context, created["id"])
    events = {e["platform_uuid"]: e for e in await list_events(tenant, created["id"]) if not e["is_deleted"]}
    fmt = "%Y%m%dT%H%M%SZ"
    instances = [f"s_{(start + timedelta(days=d, hours=6)).strftime(fmt)}" for d in range(3)]
    assert sorted(events) == sorted(["a", "c", *instances])
    assert events["a"]["name"] == "Planning (later)"
    assert datetime.fromisoformat(events["a"]["start_time"].replace("Z", "+00:00")) == start + timedelta(minutes=30)
    moved = events[instances[1]]
    assert moved["name"] == "Daily (moved)" and moved["recurring_event_id"] == "s"
    assert datetime.fromisoformat(moved["start_time"].replace("Z", "+00:00")) == start + timedelta(days=1, hours=8)

    await dav.put(cal, "s", series("s", start + timedelta(hours=6), 2, moved=start + timedelta(days=1, hours=8)))
    await sync_once(context, created["id"])
    live = sorted(e["platform_uuid"] for e in await list_events(tenant, created["id"]) if not e["is_deleted"])
    assert live == sorted(["a", "c", *instances[:2]])
    assert front.answers["refused_sync"] == refused  # incremental syncs stayed on the ctag/etag path
