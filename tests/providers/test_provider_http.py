"""The shared HTTP layer: Retry-After, path escaping, transport failures, secret scrubbing."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from calsync.providers.base import ErrorKind, ProviderError
from calsync.providers.google_errors import LIST_CLASSIFIER
from calsync.providers.http import make_http_client, parse_retry_after, path_segment, same_origin, send

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10", 10.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-5", 0.0),
        ("Sun, 01 Mar 2026 12:00:30 GMT", 30.0),
        ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),  # in the past: retry now
        ("Sunday, 01-Mar-26 12:01:00 GMT", 60.0),  # obsolete RFC 850 form
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
        ("inf", None),
        ("Sun Mar  1 12:00:30 2026", None),  # asctime carries no zone
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("primary", "primary"),
        ("en.usa#holiday@group.v.calendar.google.com", "en.usa%23holiday@group.v.calendar.google.com"),
        ("a/b?c", "a%2Fb%3Fc"),
        ("AAMkAGI2TGuLAAA=", "AAMkAGI2TGuLAAA="),
        ("x+y z%", "x%2By%20z%25"),
    ],
)
def test_path_segment_escapes_what_would_change_the_url(value: str, expected: str) -> None:
    assert path_segment(value) == expected


def test_same_origin() -> None:
    assert same_origin("https://graph.microsoft.com/v1.0/me?x=1", "https://graph.microsoft.com/v1.0")
    assert not same_origin("https://evil.example/v1.0/me", "https://graph.microsoft.com/v1.0")
    assert not same_origin("http://127.0.0.1:9/x", "http://127.0.0.1:8/x")


def test_make_http_client_has_timeouts_and_no_redirects() -> None:
    client = make_http_client(7.0)
    assert client.timeout.read == 7.0
    assert client.timeout.connect == 7.0
    assert not client.follow_redirects


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.ReadTimeout("read timed out"), ErrorKind.TRANSIENT),
        (httpx.ConnectTimeout("connect timed out"), ErrorKind.TRANSIENT),
        (httpx.ConnectError("[Errno 111] Connection refused"), ErrorKind.TRANSIENT),
        (httpx.ReadError("connection reset"), ErrorKind.TRANSIENT),
        (httpx.RemoteProtocolError("peer closed connection"), ErrorKind.TRANSIENT),
        (httpx.UnsupportedProtocol("ftp"), ErrorKind.INVALID_REQUEST),
    ],
)
async def test_transport_failures_are_classified_never_raised_raw(exc: Exception, kind: ErrorKind) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ProviderError) as info:
            await send(client, "GET", "https://x.test/", what="probe", classify=LIST_CLASSIFIER, timeout_seconds=1)
    assert info.value.kind is kind
    assert info.value.code == type(exc).__name__
    assert info.value.message.startswith("probe:")


async def test_timeout_is_passed_on_every_request() -> None:
    seen: list[object] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(204)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), timeout=None) as client:
        await send(client, "GET", "https://x.test/", what="probe", classify=LIST_CLASSIFIER, timeout_seconds=3)
    assert seen == [{"connect": 3, "read": 3, "write": 3, "pool": 3}]


async def test_error_messages_are_scrubbed_of_secrets() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"error": {"code": 400, "message": "bad token ya29.SECRET", "errors": [{"reason": "invalid"}]}}
        return httpx.Response(400, json=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ProviderError) as info:
            await send(
                client,
                "GET",
                "https://x.test/",
                what="probe",
                classify=LIST_CLASSIFIER,
                timeout_seconds=1,
                secrets=["ya29.SECRET"],
            )
    assert "ya29.SECRET" not in info.value.message
    assert "ya29.SECRET" not in str(info.value)
    assert "[redacted]" in info.value.message


# --- the real client: httpx's API over aiohttp's pool, against a local server -------------------------------------


class _Server:
    """A keep-alive HTTP/1.1 server on 127.0.0.1 answering every request with `reply` (or never, if `hang`)."""

    def __init__(self, reply: bytes, *, hang: bool = False) -> None:
        self.reply = reply
        self.hang = hang
        self.requests: list[bytes] = []
        self.connections = 0
        self._release = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                self.requests.append(head + await reader.readexactly(length))
                if self.hang:
                    await self._release.wait()
                writer.write(self.reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def _serving(server: _Server) -> AsyncIterator[str]:
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    async with listener:
        yield f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
        server._release.set()
        listener.close()


async def test_the_real_client_sends_json_decodes_gzip_and_keeps_the_connection() -> None:
    body = gzip.compress(b'{"items": [1, 2]}')
    server = _Server(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )
    async with _serving(server) as base, make_http_client(5.0) as client:
        for _ in range(2):
            response = await send(
                client,
                "POST",
                f"{base}/x",
                what="probe",
                classify=LIST_CLASSIFIER,
                timeout_seconds=5,
                json_payload={"a": 1},
            )
            assert response.json() == {"items": [1, 2]}
    assert server.connections == 1 and len(server.requests) == 2
    request = server.requests[0]
    assert request.startswith(b"POST /x HTTP/1.1\r\n") and request.endswith(b'{"a":1}')
    assert b"User-Agent: calsync/" in request or b"user-agent: calsync/" in request


async def test_the_real_client_does_not_follow_redirects() -> None:
    server = _Server(b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/elsewhere\r\nContent-Length: 0\r\n\r\n")
    async with _serving(server) as base, make_http_client(5.0) as client:
        with pytest.raises(ProviderError) as info:
            await send(client, "GET", f"{base}/x", what="probe", classify=LIST_CLASSIFIER, timeout_seconds=5)
    assert info.value.status == 302 and len(server.requests) == 1


async def test_the_real_client_maps_timeouts_and_refusals() -> None:
    async with _serving(_Server(b"", hang=True)) as base, make_http_client(5.0) as client:
        with pytest.raises(ProviderError) as info:
            await send(client, "GET", f"{base}/x", what="probe", classify=LIST_CLASSIFIER, timeout_seconds=0.2)
        assert (info.value.kind, info.value.code) == (ErrorKind.TRANSIENT, "ReadTimeout")
        with socket.socket() as sock:  # a port nobody listens on any more
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        with pytest.raises(ProviderError) as info:
            await send(
                client, "GET", f"http://127.0.0.1:{port}/", what="probe", classify=LIST_CLASSIFIER, timeout_seconds=5
            )
        assert (info.value.kind, info.value.code) == (ErrorKind.TRANSIENT, "ConnectError")
        with pytest.raises(ProviderError) as info:
            await send(client, "GET", "ftp://127.0.0.1/", what="probe", classify=LIST_CLASSIFIER, timeout_seconds=5)
        assert info.value.kind is ErrorKind.INVALID_REQUEST
