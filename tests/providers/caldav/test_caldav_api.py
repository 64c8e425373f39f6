"""CalDAV and ICS calendars through the API, end to end on both databases: created against a real Radicale (the
password checked first), mirrored by the sync engine, updates and deletions on the server seen after a sync, a
changed password disconnecting with its code, an ICS feed from a local server, one meeting with one bot across
Google and CalDAV, and the SSRF guard at creation."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from calsync.context import AppContext
from calsync.meetings.loop import evaluate_all
from calsync.settings import Settings
from calsync.sync import channels
from calsync.worker.claims import claim_due_calendars
from calsync.worker.sync_loop import SyncLoop
from calsync_emulator.client import EmulatorControl
from calsync_emulator.testing import RunningEmulator
from tests.bots.support import tomorrow
from tests.dashboard.support import dashboard_client, sign_in
from tests.meetings.support import MEET, all_meetings, calendar, create_rule, default_guests, invite, live_bots
from tests.providers.caldav.conftest import Dav, Radicale
from tests.providers.caldav.test_ics_feed import FeedServer, feed
from tests.support.service import Tenant
from tests.support.settings import emulator_settings
from tests.sync.conftest import (  # noqa: F401 - fixtures among them
    api_port,
    api_url,
    calendar_row,
    control,
    eventually,
    list_events,
    sync_once,
)


@pytest.fixture
def settings(
    database_url: str,
    tmp_path: Path,
    encryption_key: str,
    emulator: RunningEmulator,
    api_port: int,  # noqa: F811 - the fixture
) -> Settings:
    return emulator_settings(
        emulator,
        database_url=database_url,
        data_dir=tmp_path / "data",
        encryption_keys=encryption_key,
        worker_poll_interval_seconds=0.2,
        provider_timeout_seconds=10,
        # Radicale and the feed server listen on 127.0.0.1 over plain http.
        provider_allow_http=True,
        provider_allow_private_targets=True,
    )


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    server = FeedServer()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def stamp(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%SZ")


def ics_event(uid: str, start: datetime, summary: str, *, minutes: int = 30, extra: str = "") -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync tests//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{stamp(start)}\r\n"
        f"DTEND:{stamp(start + timedelta(minutes=minutes))}\r\nSUMMARY:{summary}\r\n{extra}"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


async def dav_account(radicale: Radicale, http: httpx.AsyncClient) -> Dav:
    user, password = radicale.add_user()
    return Dav(http, radicale.url, user, password)


def caldav_body(radicale: Radicale, dav: Dav, **extra: Any) -> dict[str, Any]:
    return {
        "platform": "caldav",
        "server_url": radicale.url + "/",
        "username": dav.user,
        "password": dav.auth[1],
        **extra,
    }


async def create(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    response = await tenant.client.post("/api/v1/calendars", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def live_names(tenant: Tenant, calendar_id: str) -> list[str]:
    return sorted(e["name"] for e in await list_events(tenant, calendar_id) if not e["is_deleted"])


async def test_caldav_calendar_mirrors_changes_and_disconnects_on_a_new_password(
    context: AppContext,
    tenant: Tenant,
    radicale: Radicale,
    http: httpx.AsyncClient,
    api_url: str,  # noqa: F811 - the fixture
) -> None:
    dav = await dav_account(radicale, http)
    work = await dav.make_calendar("work", "Work")
    home = await dav.make_calendar("home", "Home")
    start = tomorrow()
    await dav.put(work, "a", ics_event("a", start, "Planning", extra=f"LOCATION:{MEET}\r\n"))
    await dav.put(work, "b", ics_event("b", start + timedelta(hours=2), "Review"))
    await dav.put(home, "c", ics_event("c", start + timedelta(hours=4), "Chores"))

    # Without platform_uuid, the first collection by address stands for the primary one ("home" < "work").
    created = await create(tenant, caldav_body(radicale, dav))
    assert created["platform"] == "caldav" and created["client_id"] == dav.user
    assert dav.auth[1] not in json.dumps(created)
    await sync_once(context, created["id"])
    assert await live_names(tenant, created["id"]) == ["Chores"]

    listed = (await tenant.client.get(f"/api/v1/calendars/{created['id']}/platform_calendars")).json()["results"]
    assert [(c["platform_uuid"], c["name"], c["selected"]) for c in listed] == [
        (home, "Home", True),
        (work, "Work", False),
    ]

    picked = await create(tenant, caldav_body(radicale, dav, platform_uuid=work))
    await sync_once(context, picked["id"])
    assert await live_names(tenant, picked["id"]) == ["Planning", "Review"]
    [planning] = [e for e in await list_events(tenant, picked["id"]) if e["name"] == "Planning"]
    assert planning["meeting_url"] == MEET and planning["ical_uid"] == "a"

    await dav.put(work, "a", ics_event("a", start, "Planning (moved room)", extra=f"LOCATION:{MEET}\r\n"))
    await dav.delete(work, "b")
    await sync_once(context, picked["id"])
    assert await live_names(tenant, picked["id"]) == ["Planning (moved room)"]

    radicale.set_password(dav.user, "changed")
    await sync_once(context, picked["id"])
    row = await calendar_row(context, picked["id"])
    assert row.state == "disconnected"
    failure = row.connection_failure_data
    assert failure["code"] == "grant_revoked" and failure["platform_code"] == "unauthorized"
    assert "app password" in failure["error"]
    async with dashboard_client(api_url) as client:
        await sign_in(client, tenant.api_key)
        page = (await client.get(f"/dashboard/calendars/{picked['id']}")).text
    assert "disconnected: grant_revoked (unauthorized)" in page and "a new app password" in page
    assert "CalDAV has no push" in page and dav.auth[1] not in page

    wrong = await tenant.client.patch(f"/api/v1/calendars/{picked['id']}", json={"password": "still-wrong"})
    assert wrong.status_code == 400 and list(wrong.json()) == ["password"]
    fixed = await tenant.client.patch(f"/api/v1/calendars/{picked['id']}", json={"password": "changed"})
    assert fixed.status_code == 200, fixed.text
    await sync_once(context, picked["id"])
    assert (await calendar_row(context, picked["id"])).state == "connected"
    refused = await tenant.client.patch(f"/api/v1/calendars/{picked['id']}", json={"refresh_token": "x"})
    assert refused.status_code == 400 and refused.json() == {
        "non_field_errors": ["Unexpected field(s): refresh_token. Allowed fields are: metadata, password"]
    }


async def test_wrong_password_or_foreign_collection_is_400_and_nothing_stored(
    tenant: Tenant, radicale: Radicale, http: httpx.AsyncClient
) -> None:
    dav = await dav_account(radicale, http)
    await dav.make_calendar("work")
    other = await dav_account(radicale, http)
    foreign = await other.make_calendar("theirs")

    response = await tenant.client.post("/api/v1/calendars", json=caldav_body(radicale, dav, password="wrong"))
    assert response.status_code == 400
    assert list(response.json()) == ["password"] and "401" in response.json()["password"][0]
    response = await tenant.client.post("/api/v1/calendars", json=caldav_body(radicale, dav, platform_uuid=foreign))
    assert response.status_code == 400 and list(response.json()) == ["platform_uuid"]
    assert (await tenant.client.get("/api/v1/calendars")).json()["results"] == []


async def test_platform_fields_are_checked(tenant: Tenant) -> None:
    response = await tenant.client.post("/api/v1/calendars", json={"platform": "caldav", "username": "ada"})
    assert response.status_code == 400
    assert response.json() == {"server_url": ["This field is required."], "password": ["This field is required."]}
    response = await tenant.client.post("/api/v1/calendars", json={"platform": "ics", "url": "x", "client_id": "y"})
    assert response.json() == {
        "non_field_errors": [
            "Unexpected field(s): client_id. Allowed fields are: deduplication_key, metadata, platform, "
            "platform_uuid, url"
        ]
    }
    response = await tenant.client.post("/api/v1/calendars", json={"platform": "icloud"})
    assert response.json() == {"username": ["This field is required."], "password": ["This field is required."]}


async def test_private_or_plain_http_servers_are_refused_unless_allowed(
    context: AppContext, tenant: Tenant, radicale: Radicale, http: httpx.AsyncClient
) -> None:
    dav = await dav_account(radicale, http)
    context.settings.provider_allow_private_targets = False
    response = await tenant.client.post("/api/v1/calendars", json=caldav_body(radicale, dav))
    assert response.status_code == 400 and "not allowed" in response.json()["server_url"][0]
    by_name = caldav_body(radicale, dav, server_url=radicale.url.replace("127.0.0.1", "localhost") + "/")
    response = await tenant.client.post("/api/v1/calendars", json=by_name)
    assert response.status_code == 400 and list(response.json()) == ["server_url"]
    response = await tenant.client.post("/api/v1/calendars", json={"platform": "ics", "url": "http://10.0.0.1/a.ics"})
    assert response.status_code == 400 and "not allowed" in response.json()["url"][0]
    context.settings.provider_allow_http = False
    response = await tenant.client.post("/api/v1/calendars", json={"platform": "ics", "url": "http://example.com/a"})
    assert response.json() == {"url": ["URL must use https"]}
    assert (await tenant.client.get("/api/v1/calendars")).json()["results"] == []


async def test_ics_feed_calendar(context: AppContext, tenant: Tenant, feeds: FeedServer) -> None:
    day = tomorrow().strftime("%Y%m%d")
    url = feeds.serve("/private-s3cr3t/basic.ics", feed(f"one|{day}T100000Z", f"two|{day}T120000Z"))
    created = await create(tenant, {"platform": "ics", "url": url})
    assert created["client_id"] == "127.0.0.1"
    assert "s3cr3t" not in json.dumps(created)
    await sync_once(context, created["id"])
    assert await live_names(tenant, created["id"]) == ["one", "two"]

    feeds.serve("/private-s3cr3t/basic.ics", feed(f"one|{day}T100000Z", f"three|{day}T140000Z"))
    await sync_once(context, created["id"])
    assert await live_names(tenant, created["id"]) == ["one", "three"]

    # The feed's server asks to slow down: the next check waits for it (the host backs off, connected still).
    feeds.serve("/private-s3cr3t/basic.ics", b"busy", etag=False, status=429, **{"Retry-After": "600"})
    before = context.clock()
    await sync_once(context, created["id"])
    row = await calendar_row(context, created["id"])
    assert row.state == "connected" and row.last_sync_error["code"] == "throttled"
    assert row.sync_due_at.replace(tzinfo=UTC) >= before + timedelta(seconds=590)

    response = await tenant.client.post("/api/v1/calendars", json={"platform": "ics", "url": feeds.url + "/nothing"})
    assert response.status_code == 400 and list(response.json()) == ["url"]
    feeds.serve("/page", b"<html>sign in</html>", **{"Content-Type": "text/html"})
    response = await tenant.client.post("/api/v1/calendars", json={"platform": "ics", "url": feeds.url + "/page"})
    assert response.status_code == 400 and "calendar" in response.json()["url"][0]


async def test_one_meeting_on_google_and_caldav_gets_one_bot(
    control: EmulatorControl,  # noqa: F811 - the fixture
    context: AppContext,
    tenant: Tenant,
    radicale: Radicale,
    http: httpx.AsyncClient,
) -> None:
    await create_rule(tenant)
    start = tomorrow() + timedelta(hours=3)
    google = await calendar(control, tenant, "ada@acme.test")
    await invite(control, google, start, uid="review-1@acme.test")

    dav = await dav_account(radicale, http)
    work = await dav.make_calendar("work")
    guests = "".join(f"ATTENDEE;CN={g['name']};PARTSTAT=ACCEPTED:mailto:{g['email']}\r\n" for g in default_guests())
    await dav.put(
        work,
        "review",
        ics_event(
            "review-1@acme.test",
            start,
            "Design review",
            extra=f"LOCATION:{MEET}\r\nORGANIZER;CN=Org:mailto:org@acme.test\r\n{guests}",
        ),
    )
    caldav = await create(tenant, caldav_body(radicale, dav))

    await google.sync(context)
    await sync_once(context, caldav["id"])
    await evaluate_all(context)

    [event] = await list_events(tenant, caldav["id"])
    [google_event] = await list_events(tenant, google.id)
    assert event["meeting_id"] == google_event["meeting_id"] is not None
    meetings = [m for m in await all_meetings(tenant) if m["id"] == event["meeting_id"]]
    assert len(meetings) == 1
    assert len(await live_bots(tenant)) == 1


async def test_no_push_channel_is_opened_for_servers_without_push(
    context: AppContext, tenant: Tenant, radicale: Radicale, http: httpx.AsyncClient, feeds: FeedServer
) -> None:
    context.settings.public_url = "https://calsync.example"  # push would be on for Google and Microsoft
    dav = await dav_account(radicale, http)
    await dav.make_calendar("work")
    caldav = await create(tenant, caldav_body(radicale, dav))
    ics = await create(tenant, {"platform": "ics", "url": feeds.serve("/f.ics", feed())})
    for created in (caldav, ics):
        await sync_once(context, created["id"])
        row = await calendar_row(context, created["id"])
        assert row.last_sync_error is None and row.push_state == "none" and row.push_error is None
        async with context.db.read() as session:
            assert await channels.channels_of(session, row.id) == []


async def test_syncs_of_one_account_take_turns(
    context: AppContext, tenant: Tenant, radicale: Radicale, http: httpx.AsyncClient
) -> None:
    dav = await dav_account(radicale, http)
    work = await dav.make_calendar("work")
    created = await create(tenant, caldav_body(radicale, dav, platform_uuid=work))
    other = await create(tenant, caldav_body(radicale, dav))
    row, other_row = await calendar_row(context, created["id"]), await calendar_row(context, other["id"])
    assert row.account_key == other_row.account_key != ""
    loop = SyncLoop(context, "test-worker")
    limiter = loop.syncer.server_accounts
    try:
        claims = await eventually(
            lambda: claim_due_calendars(context.db, "test-worker", context.clock(), limit=10, lease_seconds=60)
        )
        async with AsyncExitStack() as stack:
            for _ in range(context.settings.caldav_account_concurrency):
                await stack.enter_async_context(limiter.hold(row.account_key))
            task = asyncio.create_task(loop.syncer.sync(claims[0].calendar_id, claims[0].due_at))

            async def waiting() -> bool:
                return limiter.holders(row.account_key) > context.settings.caldav_account_concurrency

            # The sync waits for a turn of the account (a holder more on its key) and lists nothing meanwhile.
            await eventually(waiting)
            assert not task.done()
        await task
        assert len(limiter) == 0
    finally:
        await loop.http.aclose()
