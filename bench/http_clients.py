"""Outbound HTTP clients side by side: POSTs/s of each candidate at 1, 8 and 64 requests in flight.

    .venv/bin/python bench/http_clients.py [--seconds 1.0] [--rounds 3] [--max-requests 20000]

A minimal keep-alive HTTP/1.1 receiver runs in its own process on 127.0.0.1 (uvloop and a bare
`asyncio.Protocol`, so it is not the bottleneck and shares no GIL with the client). Each candidate then POSTs a
webhook-sized JSON body with signature-like headers from one shared client, `--rounds` times per concurrency, each
round bounded by `--seconds` and `--max-requests`; the printed number is the median req/s of the rounds.

Candidates (a missing package is reported and skipped):
- httpx: `httpx.AsyncClient` on its own transport (httpcore);
- httpx+aiohttp: `httpx.AsyncClient` over httpx-aiohttp's `AiohttpTransport` (httpx's API, aiohttp's sockets);
- calsync-providers: the platform clients' `make_http_client` (httpx's API over calsync.http_pool's transport);
- aiohttp: `aiohttp.ClientSession`;
- httpx2: pydantic's httpx fork, `httpx2.AsyncClient`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

BODY = (
    b'{"data":{"calendar":{"state":"connected"},"events":{"created":["evt_a"],"updated":{"evt_b":["start_time"]}}},'
    + b'"padding":"'
    + b"x" * 420
    + b'"}'
)
HEADERS = {
    "Content-Type": "application/json",
    "X-Webhook-Signature": "6bYbwz0rM7vSGZk3tVQ0I2JmF1pRz8Y1a6zqgk6iD7M=",
    "webhook-id": "whd_0123456789abcdef",
    "webhook-timestamp": "1767000000",
    "webhook-signature": "v1,6bYbwz0rM7vSGZk3tVQ0I2JmF1pRz8Y1a6zqgk6iD7M=",
}
CONCURRENCY = (1, 8, 64)
_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


# --- the receiver (its own process) ----------------------------------------------------------------------------


class _Receiver(asyncio.Protocol):
    """Answers every complete request on a keep-alive connection with 200 "ok"; reads bodies by Content-Length."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport  # uvloop's transports are not asyncio.Transport subclasses
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = 0
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            self.buffer = self.buffer[total:]
            self.transport.write(_RESPONSE)


def serve() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Receiver, "127.0.0.1", 0, backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        # Stop when the parent closes our stdin (or dies): the benchmark never leaves a server behind.
        await asyncio.to_thread(sys.stdin.read)
        server.close()

    asyncio.run(main())


# --- the candidates --------------------------------------------------------------------------------------------

Post = Callable[[], Awaitable[None]]
Candidate = Callable[[str], AbstractAsyncContextManager[Post]]


@asynccontextmanager
async def _httpx(url: str) -> Any:
    import httpx

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=100, max_keepalive_connections=100)) as client:

        async def post() -> None:
            response = await client.post(url, content=BODY, headers=HEADERS)
            assert response.status_code == 200

        yield post


@asynccontextmanager
async def _httpx_aiohttp(url: str) -> Any:
    import httpx
    from httpx_aiohttp import AiohttpTransport

    transport = AiohttpTransport(limits=httpx.Limits(max_connections=100, max_keepalive_connections=100))
    async with httpx.AsyncClient(transport=transport) as client:

        async def post() -> None:
            response = await client.post(url, content=BODY, headers=HEADERS)
            assert response.status_code == 200

        yield post


@asynccontextmanager
async def _calsync_transport(url: str) -> Any:
    from calsync.providers.http import make_http_client

    async with make_http_client(10.0, max_connections=100) as client:

        async def post() -> None:
            response = await client.post(url, content=BODY, headers=HEADERS)
            assert response.status_code == 200

        yield post


@asynccontextmanager
async def _aiohttp(url: str) -> Any:
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:

        async def post() -> None:
            async with session.post(url, data=BODY, headers=HEADERS) as response:
                await response.read()
                assert response.status == 200

        yield post


@asynccontextmanager
async def _httpx2(url: str) -> Any:
    import httpx2

    async with httpx2.AsyncClient(limits=httpx2.Limits(max_connections=100, max_keepalive_connections=100)) as client:

        async def post() -> None:
            response = await client.post(url, content=BODY, headers=HEADERS)
            assert response.status_code == 200

        yield post


CANDIDATES: dict[str, tuple[str, Candidate]] = {
    "httpx": ("httpx", _httpx),
    "httpx+aiohttp": ("httpx_aiohttp", _httpx_aiohttp),
    "calsync-providers": ("calsync", _calsync_transport),
    "aiohttp": ("aiohttp", _aiohttp),
    "httpx2": ("httpx2", _httpx2),
}


async def _round(post: Post, in_flight: int, seconds: float, max_requests: int) -> float:
    """Requests/s of `in_flight` workers posting back to back until the time or the count runs out."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while done < max_requests and time.perf_counter() < deadline:
            await post()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return done / (time.perf_counter() - started)


async def measure(url: str, args: argparse.Namespace) -> dict[str, dict[int, float]]:
    results: dict[str, dict[int, float]] = {}
    for name, (module, candidate) in CANDIDATES.items():
        if args.only and name not in args.only:
            continue
        try:
            __import__(module)
        except ImportError:
            print(f"{name:>17}: not installed, skipped", flush=True)
            continue
        async with candidate(url) as post:
            for _ in range(20):  # open connections and warm the code paths before timing
                await post()
            results[name] = {}
            for in_flight in CONCURRENCY:
                rates = [await _round(post, in_flight, args.seconds, args.max_requests) for _ in range(args.rounds)]
                results[name][in_flight] = statistics.median(rates)
        cells = "  ".join(f"{results[name][c]:>8,.0f}" for c in CONCURRENCY)
        print(f"{name:>17}: {cells}   req/s at {', '.join(map(str, CONCURRENCY))} in flight", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-requests", type=int, default=20000, help="cap of one round")
    parser.add_argument("--only", nargs="*", choices=sorted(CANDIDATES), help="run only these candidates")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    receiver = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        print(
            f"{os.cpu_count()} cores, Python {platform.python_version()}, load {os.getloadavg()[0]:.2f}; "
            f"receiver pid {receiver.pid} on 127.0.0.1:{port}; {args.rounds} rounds of <= {args.seconds:g} s "
            f"or {args.max_requests} requests; median req/s",
            flush=True,
        )
        asyncio.run(measure(f"http://127.0.0.1:{port}/hook", args))
    finally:
        if receiver.stdin is not None:
            receiver.stdin.close()
        receiver.wait(timeout=10)


if __name__ == "__main__":
    main()
