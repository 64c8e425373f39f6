"""WebDAV/CalDAV XML: the request bodies the CalDAV provider sends, and a tolerant reader of 207 Multi-Status
replies. Parsed with lxml with entity expansion, DTD loading and network access off (the body comes from a
server a user named)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape

from lxml import etree

from calsync.providers.base import ErrorKind, ProviderError

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CS = "http://calendarserver.org/ns/"
_NS = f'xmlns:d="{DAV}" xmlns:c="{CALDAV}" xmlns:cs="{CS}"'
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False)


def tag(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def _body(xml: str) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + xml).encode()


def propfind(*props: str) -> bytes:
    """A PROPFIND body for `props` given as prefixed names (`d:getetag`, `c:calendar-home-set`, `cs:getctag`)."""
    return _body(f"<d:propfind {_NS}><d:prop>{''.join(f'<{p}/>' for p in props)}</d:prop></d:propfind>")


def sync_collection(token: str | None, *, with_data: bool) -> bytes:
    """RFC 6578 sync-collection, level 1; asking for calendar-data too lets a server that allows it answer a change
    in this one request (RFC 6578 §3.2 permits any property)."""
    data = "<c:calendar-data/>" if with_data else ""
    token_xml = f"<d:sync-token>{escape(token)}</d:sync-token>" if token else "<d:sync-token/>"
    return _body(
        f"<d:sync-collection {_NS}>{token_xml}<d:sync-level>1</d:sync-level>"
        f"<d:prop><d:getetag/>{data}</d:prop></d:sync-collection>"
    )


def multiget(hrefs: list[str]) -> bytes:
    refs = "".join(f"<d:href>{escape(href)}</d:href>" for href in hrefs)
    return _body(
        f"<c:calendar-multiget {_NS}><d:prop><d:getetag/><c:calendar-data/></d:prop>{refs}</c:calendar-multiget>"
    )


@dataclass
class DavResponse:
    href: str
    status: int | None  # the response-level status (removed members, 507), None when it has propstats
    props: dict[str, Any] = field(default_factory=dict)  # tag -> element, from 200 propstats only

    def text(self, name: str) -> str | None:
        element = self.props.get(name)
        if element is None:
            return None
        return "".join(element.itertext()).strip() or None

    def child_hrefs(self, name: str) -> list[str]:
        element = self.props.get(name)
        if element is None:
            return []
        return [h.text.strip() for h in element.iter(tag(DAV, "href")) if h.text and h.text.strip()]


@dataclass
class MultiStatus:
    responses: list[DavResponse]
    sync_token: str | None


def _status(element: Any) -> int | None:
    node = element.find(tag(DAV, "status"))
    if node is None or not node.text:
        return None
    parts = node.text.split()
    try:
        return int(parts[1]) if len(parts) > 1 else None
    except ValueError:
        return None


def parse_multistatus(content: bytes, *, what: str) -> MultiStatus:
    """The responses of a 207 reply. Properties in non-200 propstats (unsupported ones come back 404) are dropped."""
    try:
        root = etree.fromstring(content, _PARSER)
    except etree.XMLSyntaxError:
        raise ProviderError(
            ErrorKind.INVALID_REQUEST, f"{what}: the server's reply is not XML", code="bad_xml"
        ) from None
    if root.tag != tag(DAV, "multistatus"):
        raise ProviderError(
            ErrorKind.INVALID_REQUEST, f"{what}: the server's reply is not a multistatus", code="bad_xml"
        )
    responses = []
    for node in root.findall(tag(DAV, "response")):
        href_node = node.find(tag(DAV, "href"))
        if href_node is None or not href_node.text:
            continue
        response = DavResponse(href=href_node.text.strip(), status=_status(node))
        for propstat in node.findall(tag(DAV, "propstat")):
            if _status(propstat) != 200:
                continue
            prop = propstat.find(tag(DAV, "prop"))
            if prop is not None:
                for child in prop:
                    response.props[child.tag] = child
        responses.append(response)
    token_node = root.find(tag(DAV, "sync-token"))
    token = token_node.text.strip() if token_node is not None and token_node.text else None
    return MultiStatus(responses, token)


def has_precondition(content: bytes, name: str) -> bool:
    """Whether a DAV:error body names the precondition `name` (e.g. `valid-sync-token`)."""
    try:
        root = etree.fromstring(content, _PARSER)
    except etree.XMLSyntaxError:
        return False
    return root.find(f".//{tag(DAV, name)}") is not None


def href_path(href: str) -> str:
    """An href as a comparable path: absolute or relative, percent-encoded or not, trailing slash or not."""
    return unquote(urlsplit(href).path).rstrip("/")
