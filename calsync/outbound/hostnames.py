"""The syntax of a webhook URL's host, checked when the URL is typed in (and again before every delivery), so
that what reaches the resolver is always a well-formed name or a literal address.

`urlsplit` takes any text between `//` and the port as the host: `%00`, `127.0.0.1%09`, `xn--`. Left to the
delivery, such a host was looked up in DNS (or refused only there, long after the API said 201). Here a host is
one of: an IPv6 literal in brackets, a dotted-quad IPv4 address, or a domain name of letters, digits and inner
hyphens (RFC 1123), each label at most 63 characters, the name at most 253; a name with non-ASCII letters must
encode under IDNA 2008 (as the delivery client's URL library, yarl, will encode it) and an `xn--` label must
decode. A name whose last label is a number (`127.1`, `0x7f.1`, `2130706433`) is refused: URL parsers and
resolvers read those as IPv4 addresses in ways that differ, which is how SSRF filters are bypassed.
"""

from __future__ import annotations

import ipaddress
import re

import idna

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")  # urlsplit has lowercased the host
_NUMBER = re.compile(r"0x[0-9a-f]*|[0-9]+")  # what the WHATWG URL parser reads as part of an IPv4 address
MAX_NAME_LENGTH = 253


def host_problem(host: str, *, bracketed: bool) -> str | None:
    """Why `host` (as `urlsplit(url).hostname` gives it) is not a valid host, or None."""
    if bracketed:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return "URL host is not a valid IPv6 address"
        return None
    try:
        ipaddress.IPv4Address(host)
        return None
    except ValueError:
        pass
    name = host.removesuffix(".")  # a fully qualified name's root
    if not name.isascii():
        try:
            name = idna.encode(name).decode("ascii")
        except ValueError:  # idna.IDNAError is a UnicodeError
            return "URL host is not a valid internationalized domain name"
    if len(name) > MAX_NAME_LENGTH:
        return f"URL host must be at most {MAX_NAME_LENGTH} characters"
    labels = name.split(".")
    if _NUMBER.fullmatch(labels[-1]):
        return "URL host is not a valid IPv4 address"
    for label in labels:
        if not _LABEL.fullmatch(label):
            return "URL host is not a valid domain name"
        if label.startswith("xn--"):
            try:
                idna.decode(label)
            except ValueError:
                return "URL host is not a valid internationalized domain name"
    return None
