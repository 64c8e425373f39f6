"""A real Radicale CalDAV server for tests, benchmarks and the chaos harness: a subprocess on 127.0.0.1 with a
plain htpasswd file and its storage in a given folder, and a writer that changes its calendars as a calendar app
would (plain WebDAV: MKCALENDAR, PUT, DELETE). The emulator plays Google and Microsoft; CalDAV is not emulated."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from defusedxml import ElementTree


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Radicale:
    url: str
    users_file: Path
    process: subprocess.Popen[bytes]

    def add_user(self, password: str = "secret") -> tuple[str, str]:  # noqa: S107 - a throwaway local server
        user = f"u{uuid.uuid4().hex[:10]}"
        self.set_password(user, password)
        return user, password

    def set_password(self, user: str, password: str) -> None:
        # Radicale reads the file on each request: a new password takes effect at once, as after a revocation.
        lines = [ln for ln in self.users_file.read_text().splitlines() if ln and not ln.startswith(f"{user}:")]
        lines.append(f"{user}:{password}")
        self.users_file.write_text("\n".join(lines) + "\n")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_radicale(root: Path, *, startup_seconds: float = 30.0) -> Radicale:
    """Radicale on a free port, its config, users, collections and log under `root`; returns once it answers."""
    root.mkdir(parents=True, exist_ok=True)
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
    log_path = root / "radicale.log"
    with log_path.open("ab") as log:  # a file, not a pipe nobody drains
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and a fixed argument list
            [sys.executable, "-m", "radicale", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + startup_seconds
    while True:
        # Readiness is polled: Radicale gives no other signal that it listens.
        try:
            httpx.get(url + "/.well-known/caldav", timeout=1)
            return Radicale(url, users, process)
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                process.wait(timeout=5)
                raise RuntimeError(f"radicale did not start: {log_path.read_text()[-2000:]}") from None
            time.sleep(0.05)


class Dav:
    """Writes to a CalDAV server as a user, as a calendar app would."""

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
        if response.status_code != 201:
            raise RuntimeError(f"MKCALENDAR {url}: {response.status_code} {response.text[:300]}")
        return url

    async def put(self, calendar: str, uid: str, ics: str) -> None:
        response = await self.client.put(
            f"{calendar}{uid}.ics", content=ics.encode(), auth=self.auth, headers={"Content-Type": "text/calendar"}
        )
        if response.status_code not in (201, 204):
            raise RuntimeError(f"PUT {uid}: {response.status_code} {response.text[:300]}")

    async def delete(self, calendar: str, uid: str) -> None:
        response = await self.client.delete(f"{calendar}{uid}.ics", auth=self.auth)
        if response.status_code not in (200, 204):
            raise RuntimeError(f"DELETE {uid}: {response.status_code} {response.text[:300]}")

    async def resources(self, calendar: str) -> dict[str, str]:
        """href -> iCalendar text of every resource of the collection (one calendar-query REPORT)."""
        body = (
            '<?xml version="1.0" encoding="utf-8"?><c:calendar-query xmlns:d="DAV:" '
            'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>'
            '<c:filter><c:comp-filter name="VCALENDAR"/></c:filter></c:calendar-query>'
        )
        response = await self.client.request(
            "REPORT", calendar, content=body, auth=self.auth, headers={"Depth": "1", "Content-Type": "application/xml"}
        )
        if response.status_code != 207:
            raise RuntimeError(f"calendar-query {calendar}: {response.status_code} {response.text[:300]}")
        return _calendar_data(response.content)


def _calendar_data(multistatus: bytes) -> dict[str, str]:
    root = ElementTree.fromstring(multistatus)
    found: dict[str, str] = {}
    for response in root.iter("{DAV:}response"):
        href = response.findtext("{DAV:}href") or ""
        data = response.findtext(".//{urn:ietf:params:xml:ns:caldav}calendar-data")
        if data:
            found[href] = data
    return found
