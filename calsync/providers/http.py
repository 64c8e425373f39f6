"""The HTTP plumbing both platform clients share: the pooled client, one guarded request, Retry-After, path escaping.

Everything here turns "the network or the platform misbehaved" into a `ProviderError`, so a timeout, a reset
connection or an HTML error page can never escape as an httpx or JSON exception.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from calsync import json_codec
from calsync.clock import Clock, system_clock
from calsync.http_pool import AiohttpTransport
from calsync.providers.base import ErrorKind, ProviderError, TokenGrant

USER_AGENT = "calsync/0.1 (+https://github.com/calsync)"

# Characters a path segment may carry literally (RFC 3986 `pchar` minus `+`, which some servers read as a space).
# Everything else, notably `#`, `?`, `/` and `%`, is percent-encoded: Google holiday calendar ids contain `#`.
_PATH_SAFE = "!$&'()*,;=:@"

# How much of a platform's own error text we keep in a message (it is for humans; the machine code is separate).
_MAX_DETAIL_CHARS = 300

Classifier = Callable[[httpx.Response, Clock], ProviderError]
T = TypeVar("T")


def kind_by_status(status: int, *, unknown: ErrorKind) -> ErrorKind:
    """The class of a reply whose body names no reason either platform documents: 429 is throttling, 408 and
    5xx are transient, anything else is `unknown`."""
    if status == 429:
        return ErrorKind.THROTTLED
    if status >= 500 or status == 408:
        return ErrorKind.TRANSIENT
    return unknown


def api_error(
    kind: ErrorKind,
    summary: str,
    *,
    status: int,
    code: str | None,
    platform_text: str | None,
    response: httpx.Response,
    clock: Clock,
) -> ProviderError:
    """The error of a classified API reply: "<summary> (HTTP <status>[, <code>][: <the platform's text>])"."""
    text = detail(platform_text)
    message = f"{summary} (HTTP {status}{', ' + code if code else ''}"
    message += f": {text})" if text else ")"
    return ProviderError(kind, message, code=code, status=status, retry_after=retry_after_of(response, clock))


async def unless_not_found(call: Awaitable[T]) -> T | None:
    """The result of `call`, or None when the platform says the item is not there (`ErrorKind.NOT_FOUND`)."""
    try:
        return await call
    except ProviderError as exc:
        if exc.kind is ErrorKind.NOT_FOUND:
            return None
        raise


def make_http_client(timeout_seconds: float, *, max_connections: int = 100) -> httpx.AsyncClient:
    """The one pooled client the providers share: httpx's API over aiohttp's pool (calsync.http_pool). Redirects
    are not followed: no platform endpoint we call redirects, and following one could carry the bearer token to
    another host. No proxy from the environment either (trust_env=False), as before."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 10.0)),
        transport=AiohttpTransport(max_connections=max_connections),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
        trust_env=False,
    )


def path_segment(value: str) -> str:
    """Escape a platform id for use as one URL path segment."""
    return quote(value, safe=_PATH_SAFE)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds from `now`: either delta-seconds or an HTTP date (RFC 9110 §10.2.3).
    Unparseable values give None; dates in the past give 0."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        # `float` also accepts "nan"/"inf"; neither is a wait we can honour.
        return max(seconds, 0.0) if seconds == seconds and seconds != float("inf") else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # obsolete asctime form carries no zone; HTTP dates are always GMT
        return None
    return max((when - now).total_seconds(), 0.0)


def retry_after_of(response: httpx.Response, clock: Clock) -> float | None:
    return parse_retry_after(response.headers.get("Retry-After"), clock())


def json_body(response: httpx.Response) -> Any:
    """The decoded JSON body, or None for an empty, non-JSON or undecodable body. Never raises."""
    try:
        return json_codec.loads(without_nul(response.content))
    except (ValueError, UnicodeDecodeError):
        return None


# An escaped NUL (`\u0000`) preceded by an even number of backslashes, i.e. not itself escaped text.
_ESCAPED_NUL = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


def without_nul(body: bytes) -> bytes:
    """A platform may put NUL in an event's text (JSON can carry it as `\u0000`); PostgreSQL stores it neither in
    text nor in jsonb, so one such event would fail its whole batch, sync after sync. It becomes U+FFFD here, once,
    before anything is decoded. The search is a byte scan; bodies without one are returned as they are."""
    if b"\\u0000" not in body:
        return body
    return _ESCAPED_NUL.sub(rb"\1\\ufffd", body)


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    body = json_body(response)
    return body if isinstance(body, dict) else None


def expect_object(response: httpx.Response, what: str) -> dict[str, Any]:
    """A success body that must be a JSON object; anything else is an unexpected platform reply."""
    body = json_object(response)
    if body is None:
        raise ProviderError(
            ErrorKind.INVALID_REQUEST,
            f"{what}: the platform answered {response.status_code} with a body that is not a JSON object",
            status=response.status_code,
        )
    return body


def as_str(value: Any) -> str | None:
    """A field that should be a string: strings pass, anything else (missing, null, wrong type) is None."""
    return value if isinstance(value, str) else None


def as_float(value: Any) -> float | None:
    """A numeric field that may arrive as a JSON number or a numeric string (`expires_in`); else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number else None  # NaN is no number of seconds


def redact(text: str, secrets: Iterable[str]) -> str:
    """Remove secrets from text that came from the platform, in case an error description echoes a token."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def detail(text: str | None) -> str:
    """A short, single-line excerpt of platform-provided text for a message."""
    if not text:
        return ""
    line = " ".join(text.split())
    return line if len(line) <= _MAX_DETAIL_CHARS else line[: _MAX_DETAIL_CHARS - 1] + "…"


def same_origin(url: str, base: str) -> bool:
    """Whether `url` points at the same scheme/host/port as `base` (so we never send a bearer token elsewhere)."""
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    what: str,
    classify: Classifier,
    timeout_seconds: float,
    clock: Clock = system_clock,
    secrets: Iterable[str] = (),
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    json_payload: Any = None,
    form: Mapping[str, str] | None = None,
) -> httpx.Response:
    """One request with a timeout. Returns the response when it is 2xx; raises a classified `ProviderError`
    otherwise. `what` names the call for messages ("events.list"); `secrets` are scrubbed from any message."""
    try:
        response = await client.request(
            method,
            url,
            params=params,
            headers=headers,
            json=json_payload,
            data=form,
            timeout=timeout_seconds,
        )
    except httpx.TimeoutException as exc:
        raise ProviderError(
            ErrorKind.TRANSIENT, f"{what}: timed out after {timeout_seconds:g}s", code=type(exc).__name__
        ) from None
    except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError) as exc:
        message = redact(detail(str(exc)), secrets)
        raise ProviderError(
            ErrorKind.TRANSIENT, f"{what}: connection failed ({message or type(exc).__name__})", code=type(exc).__name__
        ) from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        # Unsupported scheme, bad URL, undecodable content-encoding: a configuration problem or a broken platform.
        raise ProviderError(
            ErrorKind.INVALID_REQUEST, f"{what}: request failed ({type(exc).__name__})", code=type(exc).__name__
        ) from None
    if response.is_success:
        return response
    error = classify(response, clock)
    error.message = redact(f"{what}: {error.message}", secrets)
    error.args = (error.message,)
    raise error


def token_grant(response: httpx.Response, issued_at: datetime) -> TokenGrant:
    """The OAuth token reply both platforms send: an access token with its lifetime, and a refresh token only
    when the platform rotated it."""
    body = expect_object(response, "token refresh")
    access_token = as_str(body.get("access_token"))
    expires_in = as_float(body.get("expires_in"))
    if not access_token or expires_in is None:
        raise ProviderError(
            ErrorKind.INVALID_REQUEST,
            "token refresh: the reply has no access_token or expires_in",
            status=response.status_code,
        )
    return TokenGrant(
        access_token=access_token,
        expires_at=issued_at + timedelta(seconds=expires_in),
        refresh_token=as_str(body.get("refresh_token")),
    )
