"""CalDAV client (iCloud, Fastmail, Nextcloud, Radicale, any RFC 4791 server): discovery, RFC 6578 sync-collection
with 507 continuation, a ctag/etag + calendar-multiget fallback, and collections as calendars.

How it fits the OAuth-shaped protocol (docs/caldav.md, "How it plugs in"): `Credentials` carry the username
(`client_id`), the app password (`client_secret`) and the server URL (`refresh_token`, empty for the iCloud preset);
`refresh_access_token` discovers the principal and calendar home with two PROPFINDs, which also proves the password,
and returns an opaque access token holding what later calls need. The cursor carries the sync token (or the ctag)
and, per resource, its etag and the instance ids it produced, so a deleted or shrunk resource removes exactly its
instances."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urljoin
from xml.sax.saxutils import escape

import httpx

from calsync.clock import Clock, system_clock
from calsync.outbound.ssrf import Resolver, TargetPolicy, system_resolver
from calsync.providers import caldav_xml as xml
from calsync.providers.base import (
    ChangePage,
    Credentials,
    ErrorKind,
    NormalizedEvent,
    PlatformCalendar,
    ProviderError,
    TokenGrant,
    WithoutPush,
)
from calsync.providers.caldav_xml import CALDAV, CS, DAV, tag
from calsync.providers.guarded_http import Fetched, GuardedHttp
from calsync.providers.ical import expand_calendar, parse_calendar
from calsync.providers.ical.cursor import pack, unpack

ICLOUD_URL = "https://caldav.icloud.com/"
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
PAGE_EVENTS = 500
MULTIGET_BATCH = 100
# A fresh discovery a day picks up a moved calendar home (iCloud re-partitions accounts between pNN hosts).
_GRANT_LIFETIME = timedelta(hours=24)
# Bounds a server that answers 507 forever.
_MAX_CONTINUATIONS = 1000
_REPORT_REFUSED = frozenset({400, 403, 405, 409, 415, 501})
_INSTANCE_SUFFIX = re.compile(r"_\d{8}(T\d{6}Z?)?$")
_ICLOUD_401 = (
    "iCloud refused the Apple ID or app-specific password (HTTP 401). Apple revokes every app-specific password "
    "when the Apple ID password changes: create a new one at account.apple.com → Sign-In and Security → "
    "App-Specific Passwords, then reconnect"
)
_GENERIC_401 = (
    "the CalDAV server refused the username or app password (HTTP 401): it was changed or revoked; "
    "create a new app password and reconnect"
)


@dataclass(frozen=True)
class Session:
    user: str
    password: str
    home: str  # the calendar-home-set URL, absolute (it may be on another host than the entry URL)
    email: str | None

    @property
    def auth(self) -> tuple[str, str]:
        return (self.user, self.password)


@dataclass
class _Listing:
    changed: dict[str, str | None]  # href -> etag of new or changed resources
    data: dict[str, str]  # href -> calendar-data, when the listing already carried it
    deleted: set[str]
    token: str | None


class CalDavProvider(WithoutPush):
    platform: str
    no_push_message = "CalDAV has no push notifications"

    def __init__(
        self,
        http_client: httpx.AsyncClient,
        *,
        timeout_seconds: float,
        policy: TargetPolicy,
        platform: str = "caldav",
        server_url: str | None = None,
        use_sync_collection: bool = True,
        max_bytes: int = DEFAULT_MAX_BYTES,
        resolver: Resolver = system_resolver,
        clock: Clock = system_clock,
    ) -> None:
        self.platform = platform
        self.http = GuardedHttp(
            http_client,
            policy=policy,
            timeout_seconds=timeout_seconds,
            max_bytes=max_bytes,
            resolver=resolver,
            clock=clock,
        )
        self._server_url = server_url
        self._use_sync = use_sync_collection
        self._clock = clock

    # --- plumbing --------------------------------------------------------------------------------------------------

    async def _dav(
        self,
        method: str,
        url: str,
        *,
        what: str,
        auth: tuple[str, str],
        body: bytes,
        depth: str | None,
        accept: frozenset[int] = frozenset(),
    ) -> Fetched:
        headers = {"Content-Type": "application/xml; charset=utf-8"}
        if depth is not None:
            headers["Depth"] = depth
        try:
            return await self.http.request(
                method, url, what=what, headers=headers, content=body, auth=auth, accept=accept
            )
        except ProviderError as exc:
            if exc.status == 401:
                exc.message = f"{what}: {_ICLOUD_401 if self.platform == 'icloud' else _GENERIC_401}"
            elif exc.status == 403:
                exc.message = f"{what}: the account may not read this (HTTP 403); check its sharing or reconnect"
            elif exc.status in (404, 410):
                exc.message = f"{what}: the calendar collection is gone (HTTP {exc.status}); it was deleted or moved"
                exc.code = "collection_gone"
            exc.args = (exc.message,)
            raise

    async def _multistatus(
        self, method: str, url: str, *, what: str, auth: tuple[str, str], body: bytes, depth: str | None
    ) -> xml.MultiStatus:
        fetched = await self._dav(method, url, what=what, auth=auth, body=body, depth=depth)
        return xml.parse_multistatus(fetched.content, what=what)

    def _session(self, access_token: str) -> Session:
        state = unpack(access_token)
        if state is None or state.get("kind") != "caldav":
            raise ProviderError(
                ErrorKind.GRANT_REVOKED, "the CalDAV session is unreadable; reconnect", code="bad_token"
            )
        return Session(state["user"], state["pw"], state["home"], state.get("email"))

    # --- discovery -------------------------------------------------------------------------------------------------

    async def _principal(self, url: str, auth: tuple[str, str]) -> str | None:
        fetched = await self._dav(
            "PROPFIND",
            url,
            what="discovery",
            auth=auth,
            body=xml.propfind("d:current-user-principal"),
            depth="0",
            accept=frozenset({400, 403, 404, 405, 501}),
        )
        if fetched.status != 207:
            return None
        for response in xml.parse_multistatus(fetched.content, what="discovery").responses:
            hrefs = response.child_hrefs(tag(DAV, "current-user-principal"))
            if hrefs:
                return urljoin(fetched.url, hrefs[0])
        return None

    async def refresh_access_token(self, credentials: Credentials) -> TokenGrant:
        """Discovery (RFC 6764 well-known, current-user-principal, calendar-home-set); proves the password."""
        base = credentials.refresh_token.strip() or self._server_url
        if not base:
            raise ProviderError(ErrorKind.GRANT_REVOKED, "no CalDAV server URL was given", code="no_server_url")
        auth = (credentials.client_id, credentials.client_secret)
        principal = await self._principal(base, auth)
        if principal is None:
            principal = await self._principal(urljoin(base, "/.well-known/caldav"), auth)
        if principal is None:
            raise ProviderError(
                ErrorKind.CALENDAR_GONE,
                "discovery: the server named no principal; is this the CalDAV address of the account?",
                code="not_caldav",
            )
        found = await self._multistatus(
            "PROPFIND",
            principal,
            what="discovery",
            auth=auth,
            body=xml.propfind("c:calendar-home-set", "c:calendar-user-address-set"),
            depth="0",
        )
        home = email = None
        for response in found.responses:
            homes = response.child_hrefs(tag(CALDAV, "calendar-home-set"))
            home = home or (urljoin(principal, homes[0]) if homes else None)
            for address in response.child_hrefs(tag(CALDAV, "calendar-user-address-set")):
                if address.lower().startswith("mailto:") and email is None:
                    email = address[7:]
        if home is None:
            raise ProviderError(
                ErrorKind.CALENDAR_GONE, "discovery: the principal has no calendar home", code="no_calendar_home"
            )
        if email is None and "@" in credentials.client_id:
            email = credentials.client_id
        token = pack({"kind": "caldav", "user": auth[0], "pw": auth[1], "home": home, "email": email})
        return TokenGrant(access_token=token, expires_at=self._clock() + _GRANT_LIFETIME)

    async def list_calendars(self, access_token: str) -> list[PlatformCalendar]:
        """The home's collections that hold events. CalDAV has no primary calendar: the first one by href stands
        for it."""
        session = self._session(access_token)
        found = await self._multistatus(
            "PROPFIND",
            session.home,
            what="calendar list",
            auth=session.auth,
            body=xml.propfind("d:resourcetype", "d:displayname", "c:supported-calendar-component-set"),
            depth="1",
        )
        calendars: list[PlatformCalendar] = []
        for response in sorted(found.responses, key=lambda r: xml.href_path(r.href)):
            kind = response.props.get(tag(DAV, "resourcetype"))
            if kind is None or kind.find(tag(CALDAV, "calendar")) is None:
                continue
            components = response.props.get(tag(CALDAV, "supported-calendar-component-set"))
            names = {c.get("name") for c in components.iter(tag(CALDAV, "comp"))} if components is not None else set()
            if names and "VEVENT" not in names:
                continue  # a task or journal list
            calendars.append(
                PlatformCalendar(
                    id=urljoin(session.home, response.href),
                    name=response.text(tag(DAV, "displayname")),
                    is_primary=not calendars,
                    can_edit=None,
                )
            )
        return calendars

    async def _collection(self, access_token: str, calendar_id: str | None) -> tuple[Session, str]:
        session = self._session(access_token)
        if calendar_id:
            return session, calendar_id
        calendars = await self.list_calendars(access_token)
        if not calendars:
            raise ProviderError(ErrorKind.CALENDAR_GONE, "the account has no event calendar", code="no_calendar")
        return session, calendars[0].id

    # --- listings --------------------------------------------------------------------------------------------------

    async def _sync_report(self, session: Session, collection: str, token: str | None) -> _Listing | None:
        """RFC 6578 sync-collection, continued while the server truncates (507). None: the server does not do it."""
        listing = _Listing(changed={}, data={}, deleted=set(), token=token)
        own = xml.href_path(collection)
        for _ in range(_MAX_CONTINUATIONS):
            fetched = await self._dav(
                "REPORT",
                collection,
                what="sync-collection",
                auth=session.auth,
                body=xml.sync_collection(listing.token, with_data=True),
                depth="0",
                accept=_REPORT_REFUSED,
            )
            if fetched.status != 207:
                if xml.has_precondition(fetched.content, "valid-sync-token"):
                    raise ProviderError(
                        ErrorKind.SYNC_TOKEN_EXPIRED,
                        "sync-collection: the sync token is no longer valid",
                        code="valid-sync-token",
                        status=fetched.status,
                    )
                if token is not None:
                    # It worked when the token was issued; a full re-list decides again which path to take.
                    raise ProviderError(
                        ErrorKind.SYNC_TOKEN_EXPIRED,
                        f"sync-collection refused (HTTP {fetched.status})",
                        code="sync_refused",
                        status=fetched.status,
                    )
                return None
            found = xml.parse_multistatus(fetched.content, what="sync-collection")
            truncated = False
            for response in found.responses:
                if xml.href_path(response.href) == own or response.href.endswith("/"):
                    truncated = truncated or response.status == 507
                    continue  # iCloud lists the collection itself among the changes
                if response.status == 404:
                    listing.deleted.add(response.href)
                    listing.changed.pop(response.href, None)
                    listing.data.pop(response.href, None)
                elif response.props:
                    listing.deleted.discard(response.href)
                    listing.changed[response.href] = response.text(tag(DAV, "getetag"))
                    data = response.text(tag(CALDAV, "calendar-data"))
                    if data:
                        listing.data[response.href] = data
            listing.token = found.sync_token or listing.token
            if not truncated:
                return listing
        raise ProviderError(ErrorKind.INVALID_REQUEST, "sync-collection: the server never finished", code="endless_507")

    async def _ctag(self, session: Session, collection: str) -> str | None:
        found = await self._multistatus(
            "PROPFIND",
            collection,
            what="ctag",
            auth=session.auth,
            body=xml.propfind("cs:getctag", "d:sync-token"),
            depth="0",
        )
        for response in found.responses:
            value = response.text(tag(CS, "getctag")) or response.text(tag(DAV, "sync-token"))
            if value:
                return value
        return None

    async def _etags(self, session: Session, collection: str) -> dict[str, str | None]:
        found = await self._multistatus(
            "PROPFIND", collection, what="etag list", auth=session.auth, body=xml.propfind("d:getetag"), depth="1"
        )
        own = xml.href_path(collection)
        return {
            r.href: r.text(tag(DAV, "getetag"))
            for r in found.responses
            if xml.href_path(r.href) != own and not r.href.endswith("/") and r.props
        }

    async def _fetch(self, session: Session, collection: str, hrefs: list[str], listing: _Listing) -> None:
        """calendar-multiget of what the listing named without its data; hrefs gone meanwhile become deletions."""
        missing = [href for href in hrefs if href not in listing.data]
        for at in range(0, len(missing), MULTIGET_BATCH):
            batch = missing[at : at + MULTIGET_BATCH]
            found = await self._multistatus(
                "REPORT", collection, what="calendar-multiget", auth=session.auth, body=xml.multiget(batch), depth="1"
            )
            requested = {xml.href_path(href): href for href in batch}
            got: set[str] = set()
            for response in found.responses:
                href = requested.get(xml.href_path(response.href))
                data = response.text(tag(CALDAV, "calendar-data"))
                if href is not None and data and response.status is None:
                    listing.data[href] = data
                    listing.changed[href] = response.text(tag(DAV, "getetag")) or listing.changed.get(href)
                    got.add(href)
            for href in batch:
                if href not in got:
                    listing.changed.pop(href, None)
                    listing.deleted.add(href)

    async def list_changes(
        self,
        access_token: str,
        calendar_id: str | None,
        *,
        window_start: datetime,
        window_end: datetime,
        cursor: str | None,
    ) -> AsyncIterator[ChangePage]:
        session, collection = await self._collection(access_token, calendar_id)
        state: dict[str, Any] | None = None
        if cursor is not None:
            state = unpack(cursor)
            if state is None or state.get("kind") != "caldav" or state.get("collection") != collection:
                raise ProviderError(ErrorKind.SYNC_TOKEN_EXPIRED, "CalDAV cursor unreadable", code="bad_cursor")
        if state is not None and "window" in state:
            # The window is re-based only by a full listing, as for the other platforms (calsync/sync/window.py):
            # an instance that merely left a moving window is not a removal.
            window_start, window_end = (datetime.fromisoformat(value) for value in state["window"])
        known: dict[str, list[Any]] = state["res"] if state is not None else {}
        mode = state["mode"] if state is not None else ("sync" if self._use_sync else "etag")
        listing: _Listing | None = None
        ctag: str | None = None
        if mode == "sync":
            listing = await self._sync_report(session, collection, state["token"] if state is not None else None)
            if listing is None:
                mode = "etag"
            elif listing.token is None:
                mode = "etag"  # no token to continue from: the next sync compares etags instead
        if listing is None:
            ctag = await self._ctag(session, collection)
            if state is not None and ctag is not None and ctag == state.get("ctag"):
                yield ChangePage(events=[], cursor=cursor)  # nothing changed: one small PROPFIND
                return
            etags = await self._etags(session, collection)
            changed = {href: etag for href, etag in etags.items() if known.get(href, [None])[0] != etag or etag is None}
            listing = _Listing(
                changed=changed, data={}, deleted={href for href in known if href not in etags}, token=None
            )
        await self._fetch(session, collection, list(listing.changed), listing)

        events: list[NormalizedEvent] = []
        removed: list[str] = []
        resources = dict(known) if state is not None else {}
        for href in listing.deleted:
            removed.extend(resources.pop(href, [None, []])[1])
        for href, etag in listing.changed.items():
            calendar = parse_calendar(listing.data.get(href, ""))
            if calendar is None:
                continue  # one unreadable resource is skipped; its previous instances stay until it is readable
            found = expand_calendar(calendar, window_start, window_end, self_email=session.email)
            ids = [event.platform_uuid for event in found.events]
            removed.extend(uuid for uuid in resources.get(href, [None, []])[1] if uuid not in set(ids))
            resources[href] = [etag, ids]
            events.extend(found.events)
        next_state = {
            "kind": "caldav",
            "collection": collection,
            "mode": mode,
            "token": listing.token,
            "ctag": ctag,
            "res": resources,
            "window": [window_start.isoformat(), window_end.isoformat()],
        }
        pages = [events[at : at + PAGE_EVENTS] for at in range(0, len(events), PAGE_EVENTS)] or [[]]
        for page in pages[:-1]:
            yield ChangePage(events=page)
        yield ChangePage(events=pages[-1], removed_ids=removed, cursor=pack(next_state))

    async def get_event(self, access_token: str, calendar_id: str | None, event_id: str) -> NormalizedEvent | None:
        """The resource with the instance's UID (a calendar-query on UID), expanded a year either side of now."""
        session, collection = await self._collection(access_token, calendar_id)
        uid = _INSTANCE_SUFFIX.sub("", event_id)
        body = (
            f'<?xml version="1.0" encoding="utf-8"?>\n<c:calendar-query xmlns:d="{DAV}" xmlns:c="{CALDAV}">'
            '<d:prop><d:getetag/><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR">'
            '<c:comp-filter name="VEVENT"><c:prop-filter name="UID">'
            f'<c:text-match collation="i;octet">{escape(uid)}</c:text-match>'
            "</c:prop-filter></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>"
        ).encode()
        found = await self._multistatus(
            "REPORT", collection, what="event lookup", auth=session.auth, body=body, depth="1"
        )
        now = self._clock()
        for response in found.responses:
            calendar = parse_calendar(response.text(tag(CALDAV, "calendar-data")) or "")
            if calendar is None:
                continue
            expansion = expand_calendar(calendar, now - timedelta(days=366), now + timedelta(days=366))
            for event in expansion.events:
                if event.platform_uuid == event_id:
                    return event
        return None

    async def calendar_owner(self, access_token: str, calendar_id: str | None) -> str | None:
        return self._session(access_token).email

    async def aclose(self) -> None:
        return None
