"""The connection pools of calsync's outbound HTTP: aiohttp connectors, and the idle-connection expiry they share.

Every outbound call (webhooks, platform APIs, the emulator's notifications) goes through aiohttp's connector:
httpx's own pool (httpcore) falls from ~800 to ~100 requests/s at 64 in flight on this kind of machine
(encode/httpx#3215; docs/benchmarks.md, "Outbound HTTP clients"). The platform clients keep httpx's API on top of
it (`AiohttpTransport`), because their code and tests are written against `httpx.Response` and `MockTransport`.

An idle keep-alive connection is dropped by the client before the server's idle timeout can close it: uvicorn
and Node both close idle connections after 5 s, and with equal timers a request sent on a connection the server is
closing at that instant fails with a read error (seen in CI against the emulator). Expiring ours after 4 s turns
that race into a fresh connect.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver

KEEPALIVE_EXPIRY_SECONDS = 4.0


def pool_limits(max_connections: int | None = 100, max_keepalive_connections: int | None = 20) -> httpx.Limits:
    """Limits for the httpx clients that still use httpx's own pool (the emulator's control client, tests)."""
    return httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_keepalive_connections,
        keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
    )


def connector(
    *,
    max_connections: int = 100,
    resolver: AbstractResolver | None = None,
    verify: ssl.SSLContext | bool = True,
) -> aiohttp.TCPConnector:
    """An aiohttp connector with calsync's limits. With a `resolver`, aiohttp's DNS cache is off: every new
    connection asks the resolver, so what it checks is what the socket connects to."""
    return aiohttp.TCPConnector(
        limit=max_connections,
        limit_per_host=0,  # per-endpoint fairness is the callers' (the delivery loop's slots), not the pool's
        keepalive_timeout=KEEPALIVE_EXPIRY_SECONDS,
        resolver=resolver,
        use_dns_cache=resolver is None,
        ssl=verify,
    )


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped_errors():
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        self._response.release()


@contextmanager
def _mapped_errors() -> Iterator[None]:
    """aiohttp's transport failures as the httpx exceptions callers classify (cancellation passes untouched)."""
    try:
        yield
    except (httpx.HTTPError, asyncio.CancelledError):
        raise
    except aiohttp.ConnectionTimeoutError as exc:  # connecting, or waiting for a pooled connection
        raise httpx.ConnectTimeout(_message(exc)) from exc
    except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
        raise httpx.ReadTimeout(_message(exc)) from exc
    except aiohttp.ClientConnectorError as exc:  # refused, unreachable, DNS, TLS handshake or certificate
        raise httpx.ConnectError(_message(exc)) from exc
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError) as exc:
        raise httpx.RemoteProtocolError(_message(exc)) from exc
    except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as exc:
        raise httpx.UnsupportedProtocol(_message(exc)) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise httpx.ReadError(_message(exc)) from exc


def _message(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx's client API over an aiohttp session: requests are built, encoded and decoded by httpx, the sockets
    and the pool are aiohttp's. Redirects, cookies and decompression stay httpx's business (aiohttp is told to do
    none of them); httpx's per-request timeout becomes aiohttp's connect and read timeouts."""

    def __init__(self, *, max_connections: int = 100, verify: ssl.SSLContext | bool = True) -> None:
        self._max_connections = max_connections
        self._verify = verify
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use: an aiohttp connector belongs to the running event loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=connector(max_connections=self._max_connections, verify=self._verify),
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
                trust_env=False,
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        body = await request.aread()
        with _mapped_errors():
            response = await self._client().request(
                request.method,
                str(request.url),
                headers=list(request.headers.multi_items()),
                data=body or None,
                allow_redirects=False,
                compress=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeouts.get("pool"),
                    sock_connect=timeouts.get("connect"),
                    sock_read=timeouts.get("read"),
                ),
                server_hostname=request.extensions.get("sni_hostname"),
            )
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_ResponseStream(response),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
