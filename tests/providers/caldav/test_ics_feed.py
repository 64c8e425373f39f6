"""The ICS provider against a local HTTP server: ETag and 304, an unchanged body skipped by digest, the diff by
UID + RECURRENCE-ID, redirects (bounded), a 404, an HTML page, a feed over the size cap, and the SSRF guard."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from calsync.outbound.ssrf import TargetPolicy
from calsync.providers.base import ChangePage, Credentials, ErrorKind, ProviderError
from calsync.providers.ics import IcsProvider
from tests.providers.caldav.conftest import LOCAL

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2027, 1, 1, tzinfo=UTC)


def feed(*events: str, stamp: str = "20260101T000000Z") -> bytes:
    body = "".join(
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:{stamp}\r\nDTSTART:{start}\r\nDTEND:{start[:9]}2359{start[13:]}\r\n"
        f"SUMMARY:{uid}\r\n{extra}END:VEVENT\r\n"
        for uid, start, extra in (e.split("|") if e.count("|") == 2 else (*e.split("|"), "") for e in events)
    )
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nX-WR-CALNAME:Team\r\n{body}END:VCALENDAR\r\n".encode()


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, dict[str, str]]] = {}
        self.hits: list[tuple[str, dict[str, str]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits.append((self.path, dict(self.headers)))
                status, body, headers = owner.routes.get(self.path, (404, b"not found", {}))
                etag = headers.get("ETag")
                if status == 200 and etag and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def serve(self, path: str, body: bytes, *, etag: bool = True, status: int = 200, **headers: str) -> str:
        if etag:
            headers["ETag"] = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        self.routes[path] = (status, body, headers)
        return self.url + path


@pytest.fixture
def server() -> Iterator[FeedServer]:
    feed_server = FeedServer()
    thread = threading.Thread(target=feed_server.server.serve_forever, daemon=True)
    thread.start()
    yield feed_server
    feed_server.server.shutdown()
    feed_server.server.server_close()


@pytest.fixture
async def ics() -> AsyncIterator[IcsProvider]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield IcsProvider(client, timeout_seconds=10, policy=LOCAL, max_bytes=1_000_000, max_redirects=2)


async def listing(p: IcsProvider, url: str, cursor: str | None) -> ChangePage:
    result = [page async for page in p.list_changes(url, None, window_start=START, window_end=END, cursor=cursor)]
    assert len(result) == 1
    return result[0]


async def test_conditional_get_digest_and_diff(server: FeedServer, ics: IcsProvider):
    url = server.serve("/cal.ics", feed("a|20260301T090000Z", "b|20260302T090000Z"))
    token = (await ics.refresh_access_token(Credentials("", "", url))).access_token
    first = await listing(ics, token, None)
    assert sorted(e.platform_uuid for e in first.events) == ["a", "b"]

    unchanged = await listing(ics, token, first.cursor)
    assert (unchanged.events, unchanged.removed_ids) == ([], [])
    assert server.hits[-1][1].get("If-None-Match") and ics.http.traffic.requests == 2  # one conditional GET → 304

    # Same events, a new DTSTAMP and no validators: skipped by the body digest.
    server.serve("/cal.ics", feed("a|20260301T090000Z", "b|20260302T090000Z", stamp="20260601T000000Z"), etag=False)
    same = await listing(ics, token, unchanged.cursor)
    assert (same.events, same.removed_ids) == ([], [])

    server.serve("/cal.ics", feed("a|20260301T100000Z", "c|20260303T090000Z"))
    changed = await listing(ics, token, same.cursor)
    assert [e.platform_uuid for e in changed.events] == ["a", "c"] and changed.removed_ids == ["b"]


async def test_recurring_feed_diff_by_recurrence_id(server: FeedServer, ics: IcsProvider):
    rule = "RRULE:FREQ=WEEKLY;COUNT={n}\r\n"
    url = server.serve("/r.ics", feed("w|20260302T090000Z|" + rule.format(n=3)))
    first = await listing(ics, url, None)
    assert len(first.events) == 3 and all(e.recurring_event_id == "w" for e in first.events)
    server.serve("/r.ics", feed("w|20260302T090000Z|" + rule.format(n=2)))
    second = await listing(ics, url, first.cursor)
    assert second.events == [] and second.removed_ids == ["w_20260316T090000Z"]


async def test_webcal_and_bounded_redirects(server: FeedServer, ics: IcsProvider):
    target = server.serve("/final.ics", feed("a|20260301T090000Z"))
    server.serve("/hop1", b"", etag=False, status=302, Location="/final.ics")
    server.serve("/hop2", b"", etag=False, status=302, Location="/hop1")
    server.serve("/hop3", b"", etag=False, status=302, Location="/hop2")
    assert [e.platform_uuid for e in (await listing(ics, server.url + "/hop2", None)).events] == ["a"]
    with pytest.raises(ProviderError) as caught:
        await listing(ics, server.url + "/hop3", None)
    assert caught.value.code == "too_many_redirects"
    grant = await ics.refresh_access_token(Credentials("", "", target.replace("http://", "webcal://")))
    assert grant.access_token == target.replace("http://", "https://")


async def test_failures_each_have_their_code(server: FeedServer, ics: IcsProvider):
    with pytest.raises(ProviderError) as gone:
        await listing(ics, server.url + "/missing.ics", None)
    assert (gone.value.kind, gone.value.code) == (ErrorKind.CALENDAR_GONE, "feed_gone")
    assert server.url not in gone.value.message  # the feed URL is a secret

    html = server.serve("/login", b"<html><body>Sign in</body></html>", **{"Content-Type": "text/html"})
    with pytest.raises(ProviderError) as not_cal:
        await listing(ics, html, None)
    assert (not_cal.value.kind, not_cal.value.code) == (ErrorKind.CALENDAR_GONE, "not_a_calendar")

    denied = server.serve("/denied", b"no", status=403)
    with pytest.raises(ProviderError) as forbidden:
        await listing(ics, denied, None)
    assert forbidden.value.kind is ErrorKind.GRANT_REVOKED and forbidden.value.disconnects

    busy = server.serve("/busy", b"", etag=False, status=503, **{"Retry-After": "120"})
    with pytest.raises(ProviderError) as throttled:
        await listing(ics, busy, None)
    assert (throttled.value.kind, throttled.value.retry_after) == (ErrorKind.THROTTLED, 120.0)

    huge = server.serve("/huge.ics", feed(*(f"e{i}|20260301T090000Z" for i in range(20_000))))
    with pytest.raises(ProviderError) as too_large:
        await listing(ics, huge, None)
    assert too_large.value.code == "too_large"


async def test_private_addresses_are_refused_by_default(server: FeedServer):
    url = server.serve("/cal.ics", feed("a|20260301T090000Z"))
    async with httpx.AsyncClient(timeout=10) as client:
        strict = IcsProvider(client, timeout_seconds=10, policy=TargetPolicy(allow_http=True))
        with pytest.raises(ProviderError) as caught:
            await listing(strict, url, None)
    assert caught.value.code == "url_refused" and server.hits == []


async def test_incremental_polls_keep_the_window_of_the_full_listing(server: FeedServer, ics: IcsProvider):
    url = server.serve("/w.ics", feed("old|20260301T090000Z", "new|20260901T090000Z"))
    first = await listing(ics, url, None)
    server.serve("/w.ics", feed("old|20260301T090000Z", "new|20260902T090000Z"))
    later = [
        page
        async for page in ics.list_changes(
            url, None, window_start=datetime(2026, 6, 1, tzinfo=UTC), window_end=END, cursor=first.cursor
        )
    ]
    # "old" left the caller's moving window but is still in the feed: not a removal until a full listing.
    assert [e.platform_uuid for e in later[0].events] == ["new"] and later[0].removed_ids == []
