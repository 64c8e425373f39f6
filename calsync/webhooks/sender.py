"""One delivery attempt: vet the target, POST once, record what happened. Never raises (except on cancellation).

Retries, scheduling and the outbox belong to the worker; this module knows nothing about storage.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from calsync import __version__
from calsync.http_pool import pool_limits
from calsync.webhooks.ssrf import (
    ResolutionFailed,
    Resolver,
    TargetPolicy,
    TargetRefused,
    VettedTarget,
    system_resolver,
    vet_url,
)

USER_AGENT = f"calsync-webhooks/{__version__}"
EXCERPT_CHARS = 500
# Enough bytes for 500 characters of UTF-8; we never read more of a response than this.
_EXCERPT_BYTES = EXCERPT_CHARS * 4
# A name with many records must not multiply the attempt's time; the overall timeout bounds it anyway.
MAX_ADDRESSES_TRIED = 3


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    response_excerpt: str
    error: str | None
    duration_ms: float
    succeeded: bool


def make_client(*, max_connections: int = 100) -> httpx.AsyncClient:
    """The client the worker should share across deliveries.

    trust_env=False: an HTTP(S)_PROXY from the environment would connect to the *name* and bypass the SSRF pinning.
    Cookies are refused: one customer's endpoint must not be able to plant state that is sent to another's.
    Redirects are never followed (also enforced per request).
    """
    return httpx.AsyncClient(
        trust_env=False,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        follow_redirects=False,
        limits=pool_limits(max_connections, max_connections // 2),
        headers={"User-Agent": USER_AGENT},
    )


def _describe(exc: BaseException | None) -> str:
    # Some httpx errors have an empty message; the class name still tells an operator what happened.
    if exc is None:
        return "no address"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _excerpt(raw: bytes) -> str:
    # NUL cannot be stored in PostgreSQL text columns.
    return raw.decode("utf-8", errors="replace")[:EXCERPT_CHARS].replace("\x00", "\ufffd")


def _pinned_request_args(target: VettedTarget, url: httpx.URL, address: str) -> tuple[httpx.URL, str, dict[str, str]]:
    """Aim the request at a vetted IP while keeping the name in Host and TLS SNI.

    The certificate is still verified against the name (httpcore uses `sni_hostname` as server_hostname), so
    pinning does not weaken TLS; it only stops a second DNS lookup from choosing another address.
    """
    pinned = url.copy_with(host=address)
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return pinned, url.netloc.decode("ascii"), extensions


async def _post_once(
    client: httpx.AsyncClient,
    url: httpx.URL,
    body: bytes,
    headers: Mapping[str, str],
    extensions: dict[str, str],
    socket_timeout: float,
) -> tuple[int, str]:
    # Per-operation timeouts too, so behaviour does not depend on how the caller configured the client.
    request = client.build_request(
        "POST", url, content=body, headers=headers, extensions=extensions, timeout=httpx.Timeout(socket_timeout)
    )
    response = await client.send(request, stream=True, follow_redirects=False)
    try:
        received = bytearray()
        # Bounded: stop as soon as the excerpt is covered; a huge or endless body is not our concern.
        async for chunk in response.aiter_raw():
            received += chunk
            if len(received) >= _EXCERPT_BYTES:
                break
        return response.status_code, _excerpt(bytes(received[:_EXCERPT_BYTES]))
    finally:
        await response.aclose()


async def send_webhook(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,  # noqa: ASYNC109 - part of the contract; applied below with asyncio.timeout over the attempt
    *,
    policy: TargetPolicy | None = None,
    resolver: Resolver = system_resolver,
) -> AttemptResult:
    """POST `body` to `url` once. 2xx succeeds; 3xx (not followed), 4xx, 5xx, timeouts and refusals fail.

    `timeout` bounds the whole attempt (DNS, connect, request, reading the excerpt), not just each socket read,
    so a server trickling bytes cannot hold a worker. `policy` defaults to the strictest (https, public only).
    """
    started = time.perf_counter()
    policy = policy or TargetPolicy()

    def result(status: int | None, excerpt: str, error: str | None) -> AttemptResult:
        ok = error is None and status is not None and 200 <= status < 300
        return AttemptResult(status, excerpt, error, (time.perf_counter() - started) * 1000.0, ok)

    all_headers = httpx.Headers({"User-Agent": USER_AGENT})
    all_headers.update(headers)  # case-insensitive merge: a caller's "user-agent" replaces ours, not duplicates it
    try:
        async with asyncio.timeout(timeout):
            target = await vet_url(url, policy, resolver=resolver)
            parsed = httpx.URL(url)
            last_error: Exception | None = None
            for address in target.addresses[:MAX_ADDRESSES_TRIED]:
                pinned, host, extensions = _pinned_request_args(target, parsed, address)
                all_headers["Host"] = host
                try:
                    status, excerpt = await _post_once(client, pinned, body, all_headers, extensions, timeout)
                except httpx.ConnectError as exc:
                    last_error = exc  # this address is down; the next record may not be
                    continue
                if 200 <= status < 300:
                    return result(status, excerpt, None)
                if 300 <= status < 400:
                    return result(status, excerpt, f"HTTP {status}: redirect not followed")
                return result(status, excerpt, f"HTTP {status}")
            return result(None, "", f"connection failed: {_describe(last_error)}")
    except ResolutionFailed as exc:
        return result(None, "", f"DNS: {exc}")
    except TargetRefused as exc:
        return result(None, "", f"target refused: {exc}")
    except (TimeoutError, httpx.TimeoutException):
        return result(None, "", f"timed out after {timeout:g}s")
    except httpx.HTTPError as exc:
        return result(None, "", _describe(exc))
    except Exception as exc:  # a delivery attempt must never crash the worker loop
        return result(None, "", f"unexpected {type(exc).__name__}: {exc}")
