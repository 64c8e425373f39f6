"""A real Radicale CalDAV server for the whole session (calsync_emulator.radicale), the same behind a front that
refuses sync-collection (calsync_emulator.caldav_front), and helpers that write events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from calsync.outbound.ssrf import TargetPolicy
from calsync.providers.base import Credentials
from calsync.providers.caldav import CalDavProvider
from calsync_emulator.caldav_front import CalDavFront
from calsync_emulator.radicale import Dav, Radicale, start_radicale

__all__ = ["Dav", "Radicale"]  # re-exported: the CalDAV tests import them from here

LOCAL = TargetPolicy(allow_http=True, allow_private=True)


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    server = start_radicale(tmp_path_factory.mktemp("radicale"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def front(radicale: Radicale) -> AsyncIterator[CalDavFront]:
    """Radicale behind the fault-injecting front, as a server without RFC 6578 sync-collection."""
    proxy = CalDavFront(radicale.url, sync_collection=False)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


def vevent(uid: str, start: str, summary: str = "Meeting", extra: str = "", end: str | None = None) -> str:
    """A VCALENDAR with one VEVENT starting at `start` (UTC, compact form) lasting an hour unless `end` is given."""
    end = end or start[:9] + f"{int(start[9:11]) + 1:02d}" + start[11:]
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync tests//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\nSUMMARY:{summary}\r\n{extra}"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
async def account(radicale: Radicale, http: httpx.AsyncClient) -> tuple[Dav, Credentials]:
    user, password = radicale.add_user()
    return Dav(http, radicale.url, user, password), Credentials(user, password, radicale.url + "/")


def provider(http: httpx.AsyncClient, **kwargs: object) -> CalDavProvider:
    return CalDavProvider(http, timeout_seconds=10, policy=LOCAL, **kwargs)  # type: ignore[arg-type]
