"""A reverse proxy on 127.0.0.1 in front of a CalDAV server (Radicale), to give it the faults and the
limitations of other servers: answering 503 with Retry-After for a while (iCloud does), being unreachable, and
lacking RFC 6578 `sync-collection` (its REPORT refused as a server without it refuses an unknown report).
Everything else is passed through unchanged."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp
from aiohttp import web

# RFC 3253 3.6: the precondition a server names when it does not know a REPORT.
UNSUPPORTED_REPORT = (
    b'<?xml version="1.0" encoding="utf-8"?>\n<D:error xmlns:D="DAV:"><D:supported-report/></D:error>\n'
)
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "accept-encoding", "te", "upgrade"}
)


class CalDavFront:
    """`sync_collection=False`: a server without sync-collection. `unavailable()` and `down()`/`up()` are faults."""

    def __init__(self, upstream: str, *, sync_collection: bool = True) -> None:
        self.upstream = upstream.rstrip("/")
        self.sync_collection = sync_collection
        self.port = 0
        self.answers: Counter[str] = Counter()  # what the front did: passed, refused_sync, unavailable
        self._unavailable_until = 0.0
        self._unavailable_left = 0
        self._retry_after = 0
        self._spent = asyncio.Event()
        self._runner: web.ServerRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_down(self) -> bool:
        return self._runner is None

    async def start(self) -> None:
        if self._session is None:
            # Redirects and compression reach the client as the server sent them.
            self._session = aiohttp.ClientSession(auto_decompress=False, timeout=aiohttp.ClientTimeout(total=30))
        await self.up()

    async def up(self) -> None:
        """Listen (again, on the same port once it has one)."""
        if self._runner is not None:
            return
        runner = web.ServerRunner(web.Server(self._handle), handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        if not self.port:
            self.port = int(runner.addresses[0][1])
        self._runner = runner

    async def down(self) -> None:
        """Stop listening and drop open connections: the server is unreachable until `up()`."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def unavailable(self, seconds: float, retry_after: int, requests: int = 1_000_000) -> None:
        """Answer 503 with `Retry-After: retry_after` to the next `requests` requests within the next `seconds`."""
        self._unavailable_until = time.monotonic() + seconds
        self._unavailable_left = requests
        self._retry_after = retry_after
        self._spent.clear()

    async def spent(self) -> None:
        """Returns once the requests given to `unavailable()` have all been answered 503."""
        await self._spent.wait()

    def available(self) -> None:
        self._unavailable_until, self._unavailable_left = 0.0, 0

    async def stop(self) -> None:
        await self.down()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        body = await request.read()
        if self._unavailable_left > 0 and time.monotonic() < self._unavailable_until:
            self._unavailable_left -= 1
            if not self._unavailable_left:
                self._spent.set()
            self.answers["unavailable"] += 1
            return web.Response(status=503, headers={"Retry-After": str(self._retry_after)}, text="busy")
        if not self.sync_collection and request.method == "REPORT" and b"sync-collection" in body:
            self.answers["refused_sync"] += 1
            return web.Response(status=403, body=UNSUPPORTED_REPORT, content_type="application/xml")
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with self._session.request(
            request.method, self.upstream + request.raw_path, headers=headers, data=body, allow_redirects=False
        ) as upstream:
            content = await upstream.read()
            answer = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
            if "Location" in answer:
                answer["Location"] = answer["Location"].replace(self.upstream, self.url)
            self.answers["passed"] += 1
            return web.Response(status=upstream.status, body=content, headers=answer)
