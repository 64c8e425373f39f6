"""Refuse webhook targets inside our network (SSRF).

The check runs on the addresses a name resolves to when a connection is made, not on the name typed into the API:
a public name can point at 127.0.0.1. Every resolved address must pass (a name mixing public and private records
is refused). The webhook client's connector resolves through `GuardedResolver`, so the addresses checked are the
addresses the socket connects to: a second, different DNS answer (rebinding) never reaches the socket.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

from calsync.outbound.hostnames import host_problem

if TYPE_CHECKING:
    from calsync.settings import Settings

MAX_URL_LENGTH = 2048
# A name with many records must not multiply the attempt's time; the overall timeout bounds it anyway.
MAX_ADDRESSES_TRIED = 3

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> addresses as strings; injectable so tests can make any name resolve anywhere.
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Spelled out rather than trusting `ipaddress.is_global`, whose tables differ between Python patch releases
# (3.11.7 calls 64:ff9b::7f00:1 and fec0::1 global).
_V4_INTERNAL = [
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches localhost on Linux
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata (169.254.169.254)
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, includes broadcast
    )
]
_V6_INTERNAL = [
    ipaddress.IPv6Network(n)
    for n in (
        "::/128",
        "::1/128",
        "100::/64",  # discard
        "2001:db8::/32",  # documentation
        "2001:10::/28",  # ORCHID
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # deprecated site-local
        "ff00::/8",  # multicast
    )
]
# IPv6 forms that carry an IPv4 address a gateway may forward to: NAT64 (well-known and local-use prefixes).
_NAT64 = [ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48")]


class TargetRefused(Exception):
    """The webhook target may not be contacted; the message is recorded as the attempt's error."""


class ResolutionFailed(TargetRefused):
    """The host did not resolve; unlike a policy refusal this is often transient (it is retried all the same)."""


@dataclass(frozen=True)
class TargetPolicy:
    allow_http: bool = False
    allow_private: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> TargetPolicy:
        return cls(allow_http=settings.webhook_allow_http, allow_private=settings.webhook_allow_private_targets)


@dataclass(frozen=True)
class VettedTarget:
    """A URL whose host resolved only to allowed addresses; connect to `addresses`, not to the name again."""

    scheme: str
    host: str  # ASCII (IDNA) host as sent in Host and SNI; an IP literal has no brackets
    port: int
    addresses: tuple[str, ...]


def _translated_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for when a translator forwards it there (mapped, 6to4, NAT64)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal_reason(address: str | IPAddress, *, allow_private: bool = False) -> str | None:
    """Why `address` may not be a webhook target, or None if it may.

    Multicast and unspecified addresses are refused even with `allow_private`: they are never a real HTTP server.
    """
    if isinstance(address, str):
        address = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    ip: IPAddress = address
    if isinstance(ip, ipaddress.IPv6Address):
        ip = ipaddress.IPv6Address(int(ip))  # drop a zone id so network membership tests are exact
        embedded = _translated_v4(ip)
        if embedded is not None:
            # Judge what the packet really reaches; NAT64 (64:ff9b::/96) must stay usable on IPv6-only hosts.
            inner = refusal_reason(embedded, allow_private=allow_private)
            return f"{ip} stands for {embedded}: {inner}" if inner else None
    if ip.is_multicast or ip.is_unspecified or ip == ipaddress.IPv4Address("255.255.255.255"):
        return f"{ip} is a multicast, broadcast or unspecified address"
    if allow_private:
        return None
    internal = _V4_INTERNAL if isinstance(ip, ipaddress.IPv4Address) else _V6_INTERNAL
    # Teredo (2001::/32) and IPv4-compatible (::a.b.c.d) fall under is_private / is_reserved here.
    if any(ip in net for net in internal) or ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved:
        return f"{ip} is a private, loopback, link-local or reserved address"
    return None


def validate_webhook_url(url: str, allow_http: bool, *, allow_private: bool = False) -> str | None:
    """Cheap, synchronous checks for API input; returns an error message or None. No DNS. The host must be
    well-formed (calsync.outbound.hostnames), so a malformed one never reaches a resolver.

    IP literals are checked here too (a URL of http://169.254.169.254/ is refused at creation, not only at
    delivery); names are checked when delivered, because what they resolve to can change.
    """
    if len(url) > MAX_URL_LENGTH:
        return f"URL must be at most {MAX_URL_LENGTH} characters"
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return "URL must not contain whitespace or control characters"
    if not url.isascii():
        try:
            url.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (e.g. from a command line): nothing could store or send it
            return "URL must not contain unpaired surrogate characters"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a non-numeric or out-of-range port
    except ValueError:
        return "URL is not valid"
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        return "URL must use https"
    if scheme == "http" and not allow_http:
        return "URL must use https"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "URL must not contain credentials"
    host = parts.hostname
    if not host:
        return "URL must have a host"
    if port == 0:
        return "URL port must not be 0"
    problem = host_problem(host, bracketed=parts.netloc.startswith("["))
    if problem:
        return problem
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return None
    reason = refusal_reason(literal, allow_private=allow_private)
    return f"URL target not allowed: {reason}" if reason else None


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


async def vetted_addresses(host: str, port: int, policy: TargetPolicy, resolver: Resolver) -> tuple[str, ...]:
    """The addresses `host` (an ASCII name) resolves to, each allowed by `policy`; raises TargetRefused."""
    try:
        addresses = await resolver(host, port)
    except OSError as exc:
        raise ResolutionFailed(f"could not resolve {host}: {exc}") from exc
    unique = tuple(dict.fromkeys(addresses))
    if not unique:
        raise TargetRefused(f"{host} resolved to no address")
    for address in unique:
        reason = refusal_reason(address, allow_private=policy.allow_private)
        if reason:
            raise TargetRefused(f"{host} resolves to a refused address: {reason}")
    return unique


def parse_target(url: str, policy: TargetPolicy) -> yarl.URL:
    """The URL as the client will send it, after the synchronous checks; raises TargetRefused. No DNS."""
    error = validate_webhook_url(url, policy.allow_http, allow_private=policy.allow_private)
    if error:
        raise TargetRefused(error)
    try:
        # yarl is what aiohttp sends: its raw_host is the IDNA (ASCII) name used for DNS, Host and SNI.
        return yarl.URL(url, encoded=False)
    except ValueError as exc:
        raise TargetRefused(f"URL is not valid: {exc}") from exc


async def vet_url(url: str, policy: TargetPolicy, *, resolver: Resolver = system_resolver) -> VettedTarget:
    """Resolve the URL's host and check every address; raises TargetRefused with the reason."""
    parsed = parse_target(url, policy)
    scheme = parsed.scheme
    host = parsed.raw_host or ""  # brackets of IPv6 literals are stripped
    port = parsed.port or (443 if scheme == "https" else 80)
    try:
        ipaddress.ip_address(host)
        return VettedTarget(scheme=scheme, host=host, port=port, addresses=(host,))  # vetted by validate_webhook_url
    except ValueError:
        pass
    addresses = await vetted_addresses(host, port, policy, resolver)
    return VettedTarget(scheme=scheme, host=host, port=port, addresses=addresses)


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver for webhook connections: every new connection to a name resolves it through `resolver`
    and refuses it (TargetRefused, raised through the request) unless every address passes `policy`. IP literals
    never reach a resolver in aiohttp; `parse_target` checks them before the request."""

    def __init__(self, policy: TargetPolicy, resolver: Resolver = system_resolver) -> None:
        self.policy = policy
        self.resolver = resolver

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await vetted_addresses(host, port, self.policy, self.resolver)
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses[:MAX_ADDRESSES_TRIED]
        ]

    async def close(self) -> None:
        return None
