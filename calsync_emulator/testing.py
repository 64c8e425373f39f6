"""Run the emulator (or any small ASGI app, e.g. a notification receiver) on 127.0.0.1 for tests.

    with running_emulator() as emu:            # or: async with running_emulator_async() as emu:
        env = emu.settings_env()               # CALSYNC_* URLs pointing at it
        async with emu.control() as control: ...

    with running_emulator(tls=True) as emu:    # https; trust emu.ca_path (SDKs that insist on https)

The server runs in a background thread with its own event loop on a port the OS picked (the socket
is bound before the thread starts, so there is no race for the port), and is stopped cleanly on exit.
Talk to it over HTTP only: its state belongs to that thread.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from calsync_emulator.app import create_app
from calsync_emulator.client import EmulatorControl, SyncEmulatorControl
from calsync_emulator.state import EmulatorState
from calsync_emulator.tls import TlsFiles, make_certificates
from calsync_emulator.urls import calsync_settings_env

START_TIMEOUT = 10.0


class ServerThread:
    """uvicorn serving `app` on an already-bound socket in a daemon thread."""

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        lifespan: Literal["auto", "on", "off"] = "on",
        tls: TlsFiles | None = None,
    ) -> None:
        # IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets whose proto is TCP; without it
        # every response waits ~40 ms for a delayed ACK (headers and body are separate writes)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        self.tls = tls
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan=lifespan,
            loop="asyncio",
            timeout_graceful_shutdown=2,
            ssl_certfile=str(tls.cert_path) if tls else None,
            ssl_keyfile=str(tls.key_path) if tls else None,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name=f"server-{self.port}", daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("server did not start")
            time.sleep(0.002)

    async def astart(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                await self.astop()
                raise RuntimeError("server did not start")
            await asyncio.sleep(0.002)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=START_TIMEOUT)
        self._sock.close()

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)


@dataclass
class RunningEmulator:
    base_url: str
    state: EmulatorState
    ca_path: str | None = None  # with tls=True: the CA certificate that signed the emulator's

    def settings_env(self) -> dict[str, str]:
        """CALSYNC_GOOGLE_OAUTH_TOKEN_URL & co. pointing at this emulator."""
        return calsync_settings_env(self.base_url)

    @property
    def verify(self) -> str | bool:
        """What to hand to requests/httpx/msal as `verify`: the CA file over https, else True."""
        return self.ca_path or True

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts the emulator (over https) and the system's CAs."""
        context = ssl.create_default_context()
        if self.ca_path:
            context.load_verify_locations(self.ca_path)
        return context

    def control(self) -> EmulatorControl:
        return EmulatorControl(self.base_url, verify=self.verify)

    def sync_control(self) -> SyncEmulatorControl:
        return SyncEmulatorControl(self.base_url, verify=self.verify)

    @property
    def google_token_url(self) -> str:
        return f"{self.base_url}/google/token"

    @property
    def google_api_url(self) -> str:
        return f"{self.base_url}/google/calendar/v3"

    @property
    def microsoft_login_url(self) -> str:
        return f"{self.base_url}/microsoft/login"

    @property
    def graph_url(self) -> str:
        return f"{self.base_url}/microsoft/graph/v1.0"

    @property
    def microsoft_authority(self) -> str:
        """The Entra authority (tenant `common`) for msal; msal requires https, so use tls=True."""
        return f"{self.microsoft_login_url}/common"


@contextmanager
def _tls_files(tls: bool) -> Iterator[TlsFiles | None]:
    if not tls:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="calsync-emulator-tls-") as directory:
        yield make_certificates(Path(directory))


@contextmanager
def running_emulator(
    state: EmulatorState | None = None, *, host: str = "127.0.0.1", tls: bool = False
) -> Iterator[RunningEmulator]:
    """`tls=True`: https with a certificate made for this run; `RunningEmulator.ca_path` is its CA."""
    state = state or EmulatorState()
    with _tls_files(tls) as files:
        server = ServerThread(create_app(state), host, tls=files)
        server.start()
        try:
            yield RunningEmulator(server.base_url, state, str(files.ca_path) if files else None)
        finally:
            server.stop()


@asynccontextmanager
async def running_emulator_async(
    state: EmulatorState | None = None, *, host: str = "127.0.0.1", tls: bool = False
) -> AsyncIterator[RunningEmulator]:
    state = state or EmulatorState()
    with _tls_files(tls) as files:
        server = ServerThread(create_app(state), host, tls=files)
        await server.astart()
        try:
            yield RunningEmulator(server.base_url, state, str(files.ca_path) if files else None)
        finally:
            await server.astop()


# --- a recording HTTP receiver for push notifications ---------------------------------------------------------


@dataclass
class ReceivedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        import json

        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every request; answers validation handshakes per `validation` (echo, wrong, encoded,
    slow, json) and everything else with `status`. Safe to read from the test's thread."""

    base_url: str = ""
    status: int = 202
    validation: str = "echo"
    slow_seconds: float = 0.0
    received: list[ReceivedRequest] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def reset(self) -> None:
        """Forget what was received and answer normally again (between tests)."""
        with self._cond:
            self.received.clear()
        self.status, self.validation, self.slow_seconds = 202, "echo", 0.0

    def requests_to(self, path: str) -> list[ReceivedRequest]:
        with self._cond:
            return [r for r in self.received if r.path == path]

    async def wait_for(
        self, predicate: Callable[[list[ReceivedRequest]], bool], within: float = 5.0
    ) -> list[ReceivedRequest]:
        """Wait (bounded) until `predicate(received)` holds; returns a snapshot. Raises TimeoutError."""
        deadline = time.monotonic() + within
        while True:
            with self._cond:
                snapshot = list(self.received)
            if predicate(snapshot):
                return snapshot
            if time.monotonic() > deadline:
                raise TimeoutError(f"receiver: condition not met within {within}s ({len(snapshot)} requests)")
            await asyncio.sleep(0.005)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        from urllib.parse import parse_qsl

        query = dict(parse_qsl(scope.get("query_string", b"").decode()))
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        with self._cond:
            self.received.append(
                ReceivedRequest(scope["method"], scope["path"], query, headers, body, time.monotonic())
            )
            self._cond.notify_all()
        status, content_type, payload = self.status, b"text/plain", b""
        if "validationToken" in query:
            token = query["validationToken"]
            if self.validation == "slow":
                await asyncio.sleep(self.slow_seconds)
            status, payload = 200, token.encode()
            if self.validation == "wrong":
                payload = b"not-the-token"
            elif self.validation == "encoded":
                from urllib.parse import quote

                payload = quote(token).encode()
            elif self.validation == "json":
                content_type = b"application/json"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})


@contextmanager
def running_receiver(**options: Any) -> Iterator[Receiver]:
    receiver = Receiver(**options)
    server = ServerThread(receiver, lifespan="off")
    server.start()
    receiver.base_url = server.base_url
    try:
        yield receiver
    finally:
        server.stop()
