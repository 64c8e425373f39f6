"""The CalDAV provider against scripted replies for what Radicale never does: 507 truncation, iCloud's
cross-host calendar home and self-listing collection, 409 valid-sync-token, throttling, TLS failures."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calsync.outbound.ssrf import TargetPolicy
from calsync.providers.base import ChangePage, Credentials, ErrorKind, ProviderError
from calsync.providers.caldav import CalDavProvider
from calsync.providers.caldav_xml import parse_multistatus
from calsync.providers.ical.cursor import unpack
from tests.providers.caldav.conftest import vevent

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2027, 1, 1, tzinfo=UTC)
HOME = "https://p42-caldav.example.com/123/calendars/"
CAL = HOME + "work/"


async def public(host: str, port: int) -> list[str]:
    return ["93.184.216.34"]


def ms(*responses: str, token: str | None = None) -> httpx.Response:
    sync = f"<d:sync-token>{token}</d:sync-token>" if token else ""
    body = f'<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:cs="http://calendarserver.org/ns/">{"".join(responses)}{sync}</d:multistatus>'
    return httpx.Response(207, content=body.encode())


def ok(href: str, props: str) -> str:
    return f"<d:response><d:href>{href}</d:href><d:propstat><d:prop>{props}</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"


def status(href: str, code: int) -> str:
    return f"<d:response><d:href>{href}</d:href><d:status>HTTP/1.1 {code} X</d:status></d:response>"


def data(uid: str, day: int) -> str:
    return f'<d:getetag>"{uid}{day}"</d:getetag><c:calendar-data>{vevent(uid, f"202603{day:02d}T090000Z")}</c:calendar-data>'


def make(handler) -> tuple[CalDavProvider, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(record))
    return CalDavProvider(
        client,
        timeout_seconds=5,
        policy=TargetPolicy(),
        platform="icloud",
        server_url="https://caldav.example.com/",
        resolver=public,
    ), seen


async def listing(p: CalDavProvider, token: str, cursor: str | None) -> list[ChangePage]:
    return [page async for page in p.list_changes(token, CAL, window_start=START, window_end=END, cursor=cursor)]


async def login(p: CalDavProvider) -> str:
    return (await p.refresh_access_token(Credentials("me@icloud.example", "app-pw", ""))).access_token


def icloud_discovery(request: httpx.Request) -> httpx.Response | None:
    if request.method == "PROPFIND" and request.url.host == "caldav.example.com":
        if b"current-user-principal" in request.content:
            return ms(ok("/", "<d:current-user-principal><d:href>/123/principal/</d:href></d:current-user-principal>"))
        return ms(
            ok(
                "/principal/",  # iCloud keys the reply by a path other than the one asked for
                f"<c:calendar-home-set><d:href>{HOME}</d:href></c:calendar-home-set>"
                "<c:calendar-user-address-set><d:href>mailto:me@icloud.example</d:href></c:calendar-user-address-set>",
            )
        )
    return None


async def test_discovery_follows_a_home_on_another_host_and_507_continues():
    tokens = iter(["t1", "t2", "t3"])

    def handler(request: httpx.Request) -> httpx.Response:
        if (reply := icloud_discovery(request)) is not None:
            return reply
        assert request.url.host == "p42-caldav.example.com" and request.headers["Depth"] == "0"
        token = next(tokens)
        if token == "t1":  # truncated: one member, and the collection itself with 507
            return ms(ok("/123/calendars/work/a.ics", data("a", 1)), status("/123/calendars/work/", 507), token="t1")
        if token == "t2":  # iCloud lists the collection itself among the changes with an etag
            return ms(
                ok("/123/calendars/work/", '<d:getetag>"c"</d:getetag>'),
                ok("/123/calendars/work/b.ics", data("b", 2)),
                token="t2",
            )
        return ms(status("/123/calendars/work/a.ics", 404), token="t3")

    p, seen = make(handler)
    p.http
    token = await login(p)
    assert unpack(token)["home"] == HOME and await p.calendar_owner(token, CAL) == "me@icloud.example"
    pages = await listing(p, token, None)
    assert sorted(e.platform_uuid for page in pages for e in page.events) == ["a", "b"]
    assert unpack(pages[-1].cursor or "")["token"] == "t2"
    assert b"<d:sync-token>t1</d:sync-token>" in seen[-1].content
    assert all("Authorization" in r.headers for r in seen)

    changed = await listing(p, token, pages[-1].cursor)
    assert changed[-1].removed_ids == ["a"] and unpack(changed[-1].cursor or "")["token"] == "t3"


@pytest.mark.parametrize("code", [403, 409])
async def test_valid_sync_token_precondition_in_403_or_409(code: int):
    error = b'<?xml version="1.0"?><d:error xmlns:d="DAV:"><d:valid-sync-token/></d:error>'
    first = True

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal first
        if (reply := icloud_discovery(request)) is not None:
            return reply
        if first:
            first = False
            return ms(ok("/123/calendars/work/a.ics", data("a", 1)), token="t1")
        return httpx.Response(code, content=error)

    p, _ = make(handler)
    token = await login(p)
    pages = await listing(p, token, None)
    with pytest.raises(ProviderError) as caught:
        await listing(p, token, pages[-1].cursor)
    assert caught.value.kind is ErrorKind.SYNC_TOKEN_EXPIRED


async def test_throttling_and_unauthorized_and_tls():
    replies = iter(
        [
            httpx.Response(503, headers={"Retry-After": "30"}),
            httpx.Response(429),
            httpx.Response(401, headers={"WWW-Authenticate": 'X-MobileMe-AuthToken realm="x", Basic realm="x"'}),
        ]
    )
    p, _ = make(lambda request: next(replies))
    with pytest.raises(ProviderError) as busy:
        await login(p)
    assert (busy.value.kind, busy.value.retry_after) == (ErrorKind.THROTTLED, 30.0)
    with pytest.raises(ProviderError) as limited:
        await login(p)
    assert limited.value.kind is ErrorKind.THROTTLED
    with pytest.raises(ProviderError) as refused:
        await login(p)
    assert refused.value.kind is ErrorKind.GRANT_REVOKED and "Apple ID password changes" in refused.value.message
    assert "app-pw" not in refused.value.message

    def tls(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("handshake") from ssl.SSLCertVerificationError("CERTIFICATE_VERIFY_FAILED")

    p, _ = make(tls)
    with pytest.raises(ProviderError) as broken:
        await login(p)
    assert broken.value.code == "tls_error"


async def test_internal_server_addresses_are_refused_before_sending():
    async def internal(host: str, port: int) -> list[str]:
        return ["10.0.0.5"]

    seen: list[httpx.Request] = []
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(500)))
    p = CalDavProvider(client, timeout_seconds=5, policy=TargetPolicy(), resolver=internal)
    with pytest.raises(ProviderError) as caught:
        await p.refresh_access_token(Credentials("u", "p", "https://dav.example.com/"))
    assert caught.value.code == "url_refused" and seen == []


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_multistatus_reader_never_crashes(body: bytes):
    try:
        parse_multistatus(b'<?xml version="1.0"?><d:multistatus xmlns:d="DAV:">' + body, what="x")
        parse_multistatus(body, what="x")
    except ProviderError as exc:
        assert exc.code == "bad_xml"


def test_entities_are_not_expanded():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<d:multistatus xmlns:d="DAV:"><d:response><d:href>&b;</d:href><d:status>HTTP/1.1 404 X</d:status>'
        b"</d:response></d:multistatus>"
    )
    try:
        found = parse_multistatus(bomb, what="x")
    except ProviderError:
        return
    assert all("aaaaaaaaaa" not in r.href for r in found.responses)
