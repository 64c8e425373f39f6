"""CalDAV and ICS through the providers, against a real Radicale and a local HTTP server.

    .venv/bin/python bench/caldav_sync.py [--events 2000] [--feed-events 5000]

Measures (one run; the numbers go to docs/benchmarks.md):
1. initial sync of an N-event CalDAV calendar (events/s through the provider, requests, bytes received);
2. one changed event through sync-collection (requests and bytes) vs a full re-fetch, and through the ctag/etag
   fallback;
3. an unchanged M-event ICS feed: what a poll costs (one conditional GET answered 304), vs the first fetch.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from calsync.outbound.ssrf import TargetPolicy
from calsync.providers.base import Credentials
from calsync.providers.caldav import CalDavProvider
from calsync.providers.ics import IcsProvider
from calsync_emulator.radicale import start_radicale

LOCAL = TargetPolicy(allow_http=True, allow_private=True)
START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2027, 1, 1, tzinfo=UTC)


def vevents(n: int, prefix: str, summary: str = "Meeting") -> str:
    first = datetime(2026, 1, 5, 9, tzinfo=UTC)
    return "".join(
        f"BEGIN:VEVENT\r\nUID:{prefix}{i}\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:{(first + timedelta(hours=3 * i)).strftime('%Y%m%dT%H%M%SZ')}\r\nDURATION:PT1H\r\n"
        f"SUMMARY:{summary} {i}\r\nLOCATION:https://zoom.us/j/{1000000000 + i}\r\n"
        f"ORGANIZER;CN=Org:mailto:org@example.com\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:a{i}@example.com\r\n"
        "END:VEVENT\r\n"
        for i in range(n)
    )


def vcalendar(body: str) -> bytes:
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:bench\r\n{body}END:VCALENDAR\r\n".encode()


async def caldav(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        radicale = start_radicale(Path(tmp))
        radicale.set_password("bench", "pw")
        url = radicale.url
        try:
            async with httpx.AsyncClient(timeout=120) as http:
                auth = ("bench", "pw")
                cal = f"{url}/bench/big/"
                assert (await http.request("MKCALENDAR", cal, auth=auth)).status_code == 201
                # One PUT of the whole calendar: Radicale splits it into one resource per UID.
                put = await http.put(cal, content=vcalendar(vevents(n, "e")), auth=auth)
                assert put.status_code in (201, 204), put.text
                credentials = Credentials("bench", "pw", url + "/")
                for mode in ("sync-collection", "ctag/etag"):
                    p = CalDavProvider(http, timeout_seconds=120, policy=LOCAL, use_sync_collection=mode != "ctag/etag")
                    token = (await p.refresh_access_token(credentials)).access_token

                    async def run(
                        cursor: str | None, p: CalDavProvider = p, token: str = token
                    ) -> tuple[int, str | None, float, int, int]:
                        before = (p.http.traffic.requests, p.http.traffic.bytes_received)
                        began = time.perf_counter()
                        pages = [
                            pg
                            async for pg in p.list_changes(
                                token, cal, window_start=START, window_end=END, cursor=cursor
                            )
                        ]
                        took = time.perf_counter() - began
                        count = sum(len(pg.events) + len(pg.removed_ids) for pg in pages)
                        return (
                            count,
                            pages[-1].cursor,
                            took,
                            p.http.traffic.requests - before[0],
                            p.http.traffic.bytes_received - before[1],
                        )

                    count, cursor, took, requests, size = await run(None)
                    print(
                        f"[{mode}] initial: {count} events in {took:.2f}s = {count / took:.0f} events/s, {requests} requests, {size / 1e6:.2f} MB"
                    )
                    count, cursor, took, requests, size = await run(cursor)
                    print(f"[{mode}] nothing changed: {requests} requests, {size} bytes, {took * 1000:.1f} ms")
                    uid = "e7" if mode == "sync-collection" else "e8"
                    one = vcalendar(vevents(1, uid, summary="Changed").replace(f"{uid}0", uid))
                    assert (await http.put(f"{cal}{uid}.ics", content=one, auth=auth)).status_code in (201, 204)
                    count, cursor, took, requests, size = await run(cursor)
                    print(
                        f"[{mode}] one changed event: {count} event(s), {requests} requests, {size} bytes, {took * 1000:.1f} ms"
                    )
                    count, _, took, requests, size = await run(None)
                    print(f"[{mode}] full re-fetch instead: {requests} requests, {size / 1e6:.2f} MB, {took:.2f}s")
        finally:
            radicale.stop()


async def ics(n: int) -> None:
    body = vcalendar(vevents(n, "f"))
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        async with httpx.AsyncClient(timeout=120) as http:
            p = IcsProvider(http, timeout_seconds=120, policy=LOCAL)
            url = f"http://127.0.0.1:{server.server_address[1]}/feed.ics"
            began = time.perf_counter()
            pages = [pg async for pg in p.list_changes(url, None, window_start=START, window_end=END, cursor=None)]
            took = time.perf_counter() - began
            count = sum(len(pg.events) for pg in pages)
            print(
                f"[ics] first fetch: {count} events in {took:.2f}s = {count / took:.0f} events/s, {len(body) / 1e6:.2f} MB, cursor {len(pages[-1].cursor or '')} chars"
            )
            before = (p.http.traffic.requests, p.http.traffic.bytes_received)
            began = time.perf_counter()
            pages = [
                pg
                async for pg in p.list_changes(url, None, window_start=START, window_end=END, cursor=pages[-1].cursor)
            ]
            took = time.perf_counter() - began
            print(
                f"[ics] unchanged poll: {p.http.traffic.requests - before[0]} request(s), {p.http.traffic.bytes_received - before[1]} body bytes, {sum(len(pg.events) for pg in pages)} events, {took * 1000:.1f} ms"
            )
    finally:
        server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--feed-events", type=int, default=5000)
    args = parser.parse_args()
    asyncio.run(caldav(args.events))
    asyncio.run(ics(args.feed_events))


if __name__ == "__main__":
    main()
