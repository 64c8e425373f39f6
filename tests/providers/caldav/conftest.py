"""A real Radicale CalDAV server (a subprocess on 127.0.0.1, htpasswd plain auth, storage in a temp folder) for the
whole session, and helpers that create calendars and events in it over plain WebDAV."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from calsync.outbound.ssrf import TargetPolicy
from calsync.providers.base import Credentials
from calsync.providers.caldav import CalDavProvider

LOCAL = TargetPolicy(allow_http=True, allow_private=True)


@dataclass
class Radicale:
    url: str
    users_file: Path

    def add_user(self, password: str = "secret") -> tuple[str, str]:
        user = f"u{uuid.uuid4().hex[:10]}"
        self.set_password(user, password)
        return user, password

    def set_password(self, user: str, password: str) -> None:
        lines = [ln for ln in self.users_file.read_text().splitlines() if ln and not ln.startswith(f"{user}:")]
        lines.append(f"{user}:{password}")
        self.users_file.write_text("\n".join(lines) + "\n")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    root = tmp_path_factory.mktemp("radicale")
    users = root / "users"
    users.write_text("")
    port = _free_port()
    config = root / "config"
    config.write_text(
        f"""[server]
hosts = 127.0.0.1:{port}
[auth]
type = htpasswd
htpasswd_filename = {users}
htpasswd_encryption = plain
delay = 0
[storage]
filesystem_folder = {root / "collections"}
[rights]
type = owner_only
[logging]
level = warning
"""
    )
    log = (root / "radicale.log").open("wb")  # a file, not a pipe nobody drains
    process = subprocess.Popen(
        [sys.executable, "-m", "radicale", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            # Readiness is polled: Radicale gives no other signal that it listens.
            try:
                httpx.get(url + "/.well-known/caldav", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"radicale did not start: {process.stderr.read() if process.stderr else ''}"
                    ) from None
                time.sleep(0.05)
        yield Radicale(url, users)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


class Dav:
    """Writes to Radicale as a user, as a calendar app would."""

    def __init__(self, client: httpx.AsyncClient, base: str, user: str, password: str) -> None:
        self.client, self.base, self.auth = client, base, (user, password)
        self.user = user

    def calendar_url(self, name: str) -> str:
        return f"{self.base}/{self.user}/{name}/"

    async def make_calendar(self, name: str, display: str | None = None, components: str = "VEVENT") -> str:
        url = self.calendar_url(name)
        body = (
            '<?xml version="1.0" encoding="utf-8"?><c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
            f"<d:set><d:prop><d:displayname>{display or name}</d:displayname>"
            f'<c:supported-calendar-component-set><c:comp name="{components}"/></c:supported-calendar-component-set>'
            "</d:prop></d:set></c:mkcalendar>"
        )
        response = await self.client.request("MKCALENDAR", url, content=body, auth=self.auth)
        assert response.status_code == 201, response.text
        return url

    async def put(self, calendar: str, uid: str, ics: str) -> None:
        response = await self.client.put(
            f"{calendar}{uid}.ics", content=ics.encode(), auth=self.auth, headers={"Content-Type": "text/calendar"}
        )
        assert response.status_code in (201, 204), response.text

    async def delete(self, calendar: str, uid: str) -> None:
        response = await self.client.delete(f"{calendar}{uid}.ics", auth=self.auth)
        assert response.status_code in (200, 204), response.text


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
