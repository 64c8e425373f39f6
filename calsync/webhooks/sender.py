"""One delivery attempt: vet the target, POST once, record what happened. Never raises (except on cancellation).

Retries, scheduling and the outbox belong to the worker; this module knows nothing about storage.
"""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
import yarl

from calsync import __version__
from calsync.http_pool import connector
from calsync.outbound.ssrf import (
    GuardedResolver,
    ResolutionFailed,
    Resolver,
    TargetPolicy,
    TargetRefused,
    parse_target,
    system_resolver,
)

USER_AGENT = f"calsync-webhooks/{__version__}"
EXCERPT_CHARS = 500
# Enough bytes for 500 characters of UTF-8; we never read more of a response than this.
_EXCERPT_BYTES = EXCERPT_CHARS * 4


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    response_excerpt: str
    error: str | None
    duration_ms: float
    succeeded: bool


class WebhookClient:
    """The client the worker shares across deliveries: one aiohttp session per (target policy, resolver), made on
    first use inside the running loop, each with a connector that resolves through `GuardedResolver`.

    No proxy from the environment (trust_env=False): a proxy would connect to the *name* and bypass the guard.
    Cookies are refused: one customer's endpoint must not be able to plant state that is sent to another's.
    Redirects are never followed (per request). Bodies are not decompressed: only a raw excerpt is kept.
    """

    def __init__(self, *, max_connections: int = 100, verify: ssl.SSLContext | bool = True) -> None:
        self.max_connections = max_connections
        self.verify = verify
        self._sessions: dict[tuple[TargetPolicy, Resolver], aiohttp.ClientSession] = {}

    def session(self, policy: TargetPolicy, resolver: Resolver) -> aiohttp.ClientSession:
        key = (policy, resolver)
        session = self._sessions.get(key)
        if session is None or session.closed:
            session = aiohttp.ClientSession(
                connector=connector(
                    max_connections=self.max_connections,
                    resolver=GuardedResolver(policy, resolver),
                    verify=self.verify,
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"User-Agent": USER_AGENT},
                auto_decompress=False,
                trust_env=False,
            )
            self._sessions[key] = session
        return session

    async def aclose(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()

    async def __aenter__(self) -> WebhookClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def make_client(*, max_connections: int = 100, verify: ssl.SSLContext | bool = True) -> WebhookClient:
    """The client the worker should share across deliveries (see WebhookClient)."""
    return WebhookClient(max_connections=max_connections, verify=verify)


def _describe(exc: BaseException) -> str:
    # Some errors have an empty message; the class name still tells an operator what happened.
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _excerpt(raw: bytes) -> str:
    # NUL cannot be stored in PostgreSQL text columns.
    return raw.decode("utf-8", errors="replace")[:EXCERPT_CHARS].replace("\x00", "\ufffd")


async def _post_once(
    session: aiohttp.ClientSession, url: yarl.URL, body: bytes, headers: Mapping[str, str], seconds: float
) -> tuple[int, str]:
    # The attempt's whole bound, per request, so it does not depend on how the session was configured.
    async with session.post(
        url, data=body, headers=headers, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=seconds)
    ) as response:
        received = bytearray()
        # Bounded: stop as soon as the excerpt is covered; a huge or endless body is not our concern (the
        # connection of an unfinished body is closed, not reused).
        while len(received) < _EXCERPT_BYTES:
            chunk = await response.content.read(_EXCERPT_BYTES - len(received))
            if not chunk:
                break
            received += chunk
        return response.status, _excerpt(bytes(received))


@functools.lru_cache(maxsize=4096)
def _target(url: str, policy: TargetPolicy) -> yarl.URL:
    # The synchronous checks depend on the URL text and the policy alone (names are vetted at connect time), and
    # parsing them cost a busy webhook more CPU per delivery than signing: a refused URL raises and is not cached.
    return parse_target(url, policy)


async def send_webhook(
    client: WebhookClient,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,  # noqa: ASYNC109 - part of the contract; aiohttp's total timeout over the attempt
    *,
    policy: TargetPolicy | None = None,
    resolver: Resolver = system_resolver,
) -> AttemptResult:
    """POST `body` to `url` once. 2xx succeeds; 3xx (not followed), 4xx, 5xx, timeouts and refusals fail.

    `timeout` bounds the whole attempt (DNS, connect, request, reading the excerpt), not just each socket read,
    so a server trickling bytes cannot hold a worker. `policy` defaults to the strictest (https, public only).
    A name is resolved and vetted when a new connection to it is made (GuardedResolver; up to
    ssrf.MAX_ADDRESSES_TRIED of its addresses are tried); a kept-alive connection to it is reused without a lookup.
    `headers` are sent as given (already signed): the caller's "user-agent" replaces ours, case-insensitively.
    """
    started = time.perf_counter()
    policy = policy or TargetPolicy()

    def result(status: int | None, excerpt: str, error: str | None) -> AttemptResult:
        ok = error is None and status is not None and 200 <= status < 300
        return AttemptResult(status, excerpt, error, (time.perf_counter() - started) * 1000.0, ok)

    try:
        # aiohttp's total timeout (per request, in _post_once) bounds the connection with its name's resolution, the
        # request and reading the excerpt; a second timer around it cost a delivery ~5 % of its CPU in timer-heap
        # work (bench/webhook_delivery.py under py-spy, docs/benchmarks.md §14).
        target = _target(url, policy)
        status, excerpt = await _post_once(client.session(policy, resolver), target, body, headers, timeout)
        if 200 <= status < 300:
            return result(status, excerpt, None)
        if 300 <= status < 400:
            return result(status, excerpt, f"HTTP {status}: redirect not followed")
        return result(status, excerpt, f"HTTP {status}")
    except ResolutionFailed as exc:
        return result(None, "", f"DNS: {exc}")
    except TargetRefused as exc:
        return result(None, "", f"target refused: {exc}")
    except TimeoutError:  # ours, or aiohttp's (its timeout errors are TimeoutError too)
        return result(None, "", f"timed out after {timeout:g}s")
    except aiohttp.ClientConnectorError as exc:  # every address tried was refused, unreachable or failed TLS
        return result(None, "", f"connection failed: {_describe(exc)}")
    except aiohttp.ClientError as exc:
        return result(None, "", _describe(exc))
    except Exception as exc:  # a delivery attempt must never crash the worker loop
        return result(None, "", f"unexpected {type(exc).__name__}: {exc}")
