"""send_webhook against real local HTTP(S) receivers on 127.0.0.1."""

import asyncio
import contextlib
import datetime as dt
import socket
import ssl
from dataclasses import dataclass, field

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from calsync.outbound.ssrf import TargetPolicy
from calsync.webhooks.sender import EXCERPT_CHARS, USER_AGENT, make_client, send_webhook

DEV = TargetPolicy(allow_http=True, allow_private=True)
BODY = b'{"hello":"world"}'


@dataclass
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A minimal HTTP/1.1 responder. `status`, `reply` and `extra_headers` shape the answer; `hang` never answers."""

    status: int = 200
    reply: bytes = b"ok"
    extra_headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    server_names: list[str | None] = field(default_factory=list)
    connections: int = 0
    _never: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        """Let hanging handlers finish so the server can close (3.12+ waits for them)."""
        self._never.set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:  # keep-alive: serve requests until the client closes
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if line)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append(Received(method, target, headers, body))
                if self.hang:
                    await self._never.wait()  # the client's timeout must end this, not us
                reason = b"Found" if 300 <= self.status < 400 else b"X"
                extra = b"".join(f"{k}: {v}\r\n".encode() for k, v in self.extra_headers.items())
                writer.write(
                    b"HTTP/1.1 %d %s\r\nContent-Length: %d\r\n%s\r\n" % (self.status, reason, len(self.reply), extra)
                    + self.reply
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def receiver():
    rec = Receiver()
    server = await asyncio.start_server(rec.handle, "127.0.0.1", 0)
    rec.port = server.sockets[0].getsockname()[1]
    async with server:
        yield rec
        rec.release()
        server.close()


@pytest.fixture
async def client():
    async with make_client() as c:
        yield c


async def test_2xx_succeeds_and_sends_body_and_headers(receiver, client):
    receiver.status, receiver.reply = 204, b""
    result = await send_webhook(
        client, f"http://127.0.0.1:{receiver.port}/hook?x=1", BODY, {"webhook-id": "abc"}, 5, policy=DEV
    )
    assert result.succeeded and result.status_code == 204 and result.error is None
    assert result.duration_ms > 0
    [request] = receiver.requests
    assert request.method == "POST" and request.target == "/hook?x=1" and request.body == BODY
    assert request.headers["user-agent"] == USER_AGENT
    assert request.headers["webhook-id"] == "abc"
    assert request.headers["host"] == f"127.0.0.1:{receiver.port}"


async def test_500_fails_with_excerpt(receiver, client):
    receiver.status, receiver.reply = 500, b"boom"
    result = await send_webhook(client, f"http://127.0.0.1:{receiver.port}/", BODY, {}, 5, policy=DEV)
    assert not result.succeeded
    assert (result.status_code, result.response_excerpt, result.error) == (500, "boom", "HTTP 500")


async def test_redirect_is_not_followed(receiver, client):
    receiver.status, receiver.reply = 302, b""
    receiver.extra_headers = {"Location": f"http://127.0.0.1:{receiver.port}/elsewhere"}
    result = await send_webhook(client, f"http://127.0.0.1:{receiver.port}/hook", BODY, {}, 5, policy=DEV)
    assert not result.succeeded and result.status_code == 302 and "redirect" in (result.error or "")
    assert [r.target for r in receiver.requests] == ["/hook"]


async def test_timeout_bounds_the_attempt(receiver, client):
    receiver.hang = True
    result = await send_webhook(client, f"http://127.0.0.1:{receiver.port}/", BODY, {}, 0.3, policy=DEV)
    assert not result.succeeded and result.status_code is None
    assert result.error == "timed out after 0.3s"
    assert 250 < result.duration_ms < 5000


async def test_timeout_bounds_a_response_that_trickles(client):
    # Headers at once, then a byte every 50 ms of a body that never ends: the timeout still ends the attempt.
    stop = asyncio.Event()

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            while not stop.is_set():
                writer.write(b"x")
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.05)
        writer.close()

    server = await asyncio.start_server(trickle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        result = await send_webhook(client, f"http://127.0.0.1:{port}/", BODY, {}, 0.3, policy=DEV)
        stop.set()
    assert not result.succeeded and result.error == "timed out after 0.3s"
    assert 250 < result.duration_ms < 5000


async def test_connection_refused(client):
    with socket.socket() as sock:  # a port nobody listens on any more
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await send_webhook(client, f"http://127.0.0.1:{port}/", BODY, {}, 5, policy=DEV)
    assert not result.succeeded and result.status_code is None
    assert result.error is not None and result.error.startswith("connection failed")


async def test_excerpt_truncated_and_nul_free(receiver, client):
    receiver.reply = ("é\x00" + "x" * 10_000).encode()
    result = await send_webhook(client, f"http://127.0.0.1:{receiver.port}/", BODY, {}, 5, policy=DEV)
    assert result.succeeded
    assert len(result.response_excerpt) == EXCERPT_CHARS
    assert result.response_excerpt.startswith("é\ufffdxxx")


async def test_ssrf_refusal_is_the_error_and_no_request_is_made(receiver, client):
    result = await send_webhook(client, f"http://127.0.0.1:{receiver.port}/", BODY, {}, 5, policy=TargetPolicy())
    assert not result.succeeded and result.status_code is None
    assert result.error is not None and result.error.startswith("target refused")
    result = await send_webhook(
        client, f"https://localhost:{receiver.port}/", BODY, {}, 5, policy=TargetPolicy(allow_http=True)
    )
    assert result.error is not None and "refused address" in result.error
    assert receiver.requests == []


async def test_connects_to_vetted_address_not_a_fresh_lookup(receiver, client):
    # `rebind.invalid` cannot resolve through real DNS; the request only arrives if the sender connects to the
    # address our resolver vetted instead of letting httpx look the name up again (DNS rebinding).
    calls = []

    async def resolver(host, port):
        calls.append(host)
        return ["127.0.0.2", "127.0.0.1"]  # nothing listens on .2 (server binds .1): falls through to .1

    url = f"http://rebind.invalid:{receiver.port}/hook"
    result = await send_webhook(client, url, BODY, {}, 5, policy=DEV, resolver=resolver)
    assert result.succeeded, result.error
    assert calls == ["rebind.invalid"]
    assert receiver.requests[0].headers["host"] == f"rebind.invalid:{receiver.port}"


async def test_a_name_resolving_to_a_private_address_is_refused_when_connecting(receiver, client):
    calls = []

    async def to_loopback(host, port):
        calls.append((host, port))
        return ["127.0.0.1"]

    url = f"http://hooks.example.test:{receiver.port}/hook"
    strict = TargetPolicy(allow_http=True)
    result = await send_webhook(client, url, BODY, {}, 5, policy=strict, resolver=to_loopback)
    assert not result.succeeded and result.status_code is None
    assert result.error == (
        "target refused: hooks.example.test resolves to a refused address: "
        "127.0.0.1 is a private, loopback, link-local or reserved address"
    )
    assert calls == [("hooks.example.test", receiver.port)]
    assert receiver.connections == 0 and receiver.requests == []


async def test_every_new_connection_is_vetted_and_kept_alive_ones_are_reused(receiver, client):
    calls = []

    async def resolver(host, port):
        calls.append(host)
        return ["127.0.0.1"]

    url = f"http://hooks.example.test:{receiver.port}/hook"
    for _ in range(3):
        assert (await send_webhook(client, url, BODY, {}, 5, policy=DEV, resolver=resolver)).succeeded
    assert (len(calls), receiver.connections) == (1, 1)  # one connection, looked up and vetted once
    receiver.extra_headers = {"Connection": "close"}
    for _ in range(2):  # the first reuses the kept-alive connection, which the server then closes
        assert (await send_webhook(client, url, BODY, {}, 5, policy=DEV, resolver=resolver)).succeeded
    assert (len(calls), receiver.connections) == (2, 2)  # the new connection was looked up and vetted again


async def test_keep_alive_reuses_connection(receiver, client):
    for _ in range(3):
        assert (await send_webhook(client, f"http://127.0.0.1:{receiver.port}/", BODY, {}, 5, policy=DEV)).succeeded
    assert len(receiver.requests) == 3 and receiver.connections == 1


async def test_cookies_from_one_endpoint_are_not_replayed(receiver, client):
    receiver.extra_headers = {"Set-Cookie": "session=planted; Path=/"}
    for _ in range(2):
        assert (await send_webhook(client, f"http://127.0.0.1:{receiver.port}/", BODY, {}, 5, policy=DEV)).succeeded
    assert all("cookie" not in r.headers for r in receiver.requests)


async def test_caller_headers_merge_case_insensitively(receiver, client):
    result = await send_webhook(
        client, f"http://127.0.0.1:{receiver.port}/", BODY, {"user-agent": "custom/1"}, 5, policy=DEV
    )
    assert result.succeeded
    assert receiver.requests[0].headers["user-agent"] == "custom/1"


async def test_never_raises_on_garbage_url(client):
    result = await send_webhook(client, "not a url", BODY, {}, 5, policy=DEV)
    assert not result.succeeded and result.error is not None


# --- TLS: pinning keeps SNI and certificate verification on the name ---


def _self_signed(name: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture
async def tls_receiver(tmp_path):
    cert_pem, key_pem = _self_signed("hooks.example.test")
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    rec = Receiver()
    server_ctx.sni_callback = lambda sslobj, name, ctx: rec.server_names.append(name)
    server = await asyncio.start_server(rec.handle, "127.0.0.1", 0, ssl=server_ctx)
    rec.port = server.sockets[0].getsockname()[1]
    client_ctx = ssl.create_default_context(cadata=cert_pem.decode())
    async with server, make_client(verify=client_ctx) as tls_client:
        yield rec, tls_client
        rec.release()
        server.close()


async def _to_localhost(host, port):
    return ["127.0.0.1"]


async def test_https_pinned_keeps_sni_host_and_verification(tls_receiver):
    rec, tls_client = tls_receiver
    url = f"https://hooks.example.test:{rec.port}/hook"
    result = await send_webhook(tls_client, url, BODY, {}, 5, policy=DEV, resolver=_to_localhost)
    assert result.succeeded, result.error
    assert rec.server_names == ["hooks.example.test"]
    assert rec.requests[0].headers["host"] == f"hooks.example.test:{rec.port}"


async def test_https_certificate_still_checked_against_the_name(tls_receiver):
    rec, tls_client = tls_receiver
    url = f"https://other.example.test:{rec.port}/hook"
    result = await send_webhook(tls_client, url, BODY, {}, 5, policy=DEV, resolver=_to_localhost)
    assert not result.succeeded and result.error is not None and "CERTIFICATE_VERIFY_FAILED" in result.error
    assert rec.requests == []


async def test_ipv6_literal_url_is_pinned_correctly(client):
    # Bracketing must survive the pinning rewrite; a refused connection (nothing on ::1) is the expected outcome.
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    result = await send_webhook(client, "http://[::1]:1/", BODY, {}, 5, policy=DEV)
    assert result.error is not None and result.error.startswith("connection failed")
