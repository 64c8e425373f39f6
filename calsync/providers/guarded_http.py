"""HTTP for user-supplied servers (CalDAV, ICS feeds): every URL, and every redirect target, passes the SSRF guard
(calsync/outbound/ssrf.py); bodies are capped while they stream; redirects are bounded and never carry credentials
to another origin; failures become `ProviderError`s whose messages name the call, never the URL (feed URLs are
secrets) or a password."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from calsync.clock import Clock, system_clock
from calsync.outbound.ssrf import Resolver, TargetPolicy, TargetRefused, system_resolver, vet_url
from calsync.providers.base import ErrorKind, ProviderError
from calsync.providers.http import retry_after_of, same_origin

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class Fetched:
    status: int
    headers: httpx.Headers
    content: bytes
    url: str  # after redirects


@dataclass
class Traffic:
    """What this client sent and received, for benchmarks and tests that count requests per change."""

    requests: int = 0
    bytes_received: int = 0
    methods: list[str] = field(default_factory=list)


def _is_tls(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def classify_status(response_status: int, *, what: str, retry_after: float | None) -> ProviderError:
    """The common meaning of an HTTP status from a user-supplied server; callers refine 401/403/404 messages."""
    if response_status == 429 or (response_status == 503 and retry_after is not None):
        return ProviderError(
            ErrorKind.THROTTLED,
            f"{what}: the server asks to slow down (HTTP {response_status})",
            code="throttled",
            status=response_status,
            retry_after=retry_after,
        )
    if response_status >= 500 or response_status == 408:
        return ProviderError(
            ErrorKind.TRANSIENT, f"{what}: server error (HTTP {response_status})", status=response_status
        )
    if response_status == 401:
        return ProviderError(
            ErrorKind.GRANT_REVOKED,
            f"{what}: the server refused the credentials (HTTP 401)",
            code="unauthorized",
            status=401,
        )
    if response_status == 403:
        return ProviderError(ErrorKind.GRANT_REVOKED, f"{what}: access denied (HTTP 403)", code="forbidden", status=403)
    if response_status in (404, 410):
        return ProviderError(
            ErrorKind.CALENDAR_GONE,
            f"{what}: the calendar is gone (HTTP {response_status})",
            code="gone",
            status=response_status,
        )
    return ProviderError(
        ErrorKind.INVALID_REQUEST, f"{what}: unexpected reply (HTTP {response_status})", status=response_status
    )


class GuardedHttp:
    """Requests to servers users name. Shares the caller's pooled `httpx.AsyncClient` (redirects off)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        policy: TargetPolicy,
        timeout_seconds: float,
        max_bytes: int,
        max_redirects: int = 5,
        resolver: Resolver = system_resolver,
        clock: Clock = system_clock,
    ) -> None:
        self._client = client
        self._policy = policy
        self._timeout = timeout_seconds
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects
        self._resolver = resolver
        self._clock = clock
        self.traffic = Traffic()

    async def _vet(self, url: str, what: str) -> None:
        # The address check; a name that resolves to an internal address is refused before any byte is sent.
        try:
            await vet_url(url, self._policy, resolver=self._resolver)
        except TargetRefused as exc:
            raise ProviderError(
                ErrorKind.INVALID_REQUEST, f"{what}: the server address is not allowed ({exc})", code="url_refused"
            ) from None

    async def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        auth: tuple[str, str] | None = None,
        accept: frozenset[int] = frozenset(),
    ) -> Fetched:
        """One request, following up to `max_redirects` redirects (each target vetted). Returns 2xx replies and
        those in `accept`; raises a classified `ProviderError` for anything else."""
        origin = url
        for _ in range(self._max_redirects + 1):
            await self._vet(url, what)
            send_auth = auth if auth is not None and same_origin(url, origin) else None
            fetched = await self._once(method, url, what=what, headers=headers, content=content, auth=send_auth)
            location = fetched.headers.get("Location")
            if fetched.status in _REDIRECTS and location and fetched.status not in accept:
                url = str(httpx.URL(url).join(location))
                if fetched.status == 303:
                    method, content = "GET", None
                continue
            if fetched.status < 300 or fetched.status in accept:
                return fetched
            retry_after = retry_after_of(httpx.Response(fetched.status, headers=fetched.headers), self._clock)
            raise classify_status(fetched.status, what=what, retry_after=retry_after)
        raise ProviderError(
            ErrorKind.INVALID_REQUEST, f"{what}: more than {self._max_redirects} redirects", code="too_many_redirects"
        )

    async def _once(
        self,
        method: str,
        url: str,
        *,
        what: str,
        headers: Mapping[str, str] | None,
        content: bytes | None,
        auth: tuple[str, str] | None,
    ) -> Fetched:
        self.traffic.requests += 1
        self.traffic.methods.append(method)
        try:
            async with self._client.stream(
                method,
                url,
                headers=headers,
                content=content,
                auth=httpx.BasicAuth(*auth) if auth else None,
                timeout=self._timeout,
            ) as response:
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self._max_bytes:
                        raise ProviderError(
                            ErrorKind.INVALID_REQUEST,
                            f"{what}: the reply is larger than {self._max_bytes} bytes",
                            code="too_large",
                            status=response.status_code,
                        )
                    chunks.append(chunk)
                self.traffic.bytes_received += size
                return Fetched(response.status_code, response.headers, b"".join(chunks), url)
        except httpx.TimeoutException:
            raise ProviderError(
                ErrorKind.TRANSIENT, f"{what}: timed out after {self._timeout:g}s", code="timeout"
            ) from None
        except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError) as exc:
            if _is_tls(exc):
                raise ProviderError(
                    ErrorKind.INVALID_REQUEST,
                    f"{what}: the server's TLS certificate or handshake was refused",
                    code="tls_error",
                ) from None
            raise ProviderError(
                ErrorKind.TRANSIENT, f"{what}: connection failed ({type(exc).__name__})", code=type(exc).__name__
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise ProviderError(
                ErrorKind.INVALID_REQUEST, f"{what}: request failed ({type(exc).__name__})", code=type(exc).__name__
            ) from None
