"""Host and path rules that decide whether a URL is a meeting join link, and which redirect wrappers are unwrapped.

Kept apart from `meeting_urls` (the scanner) so the catalogue can be read and extended in one place. The rules are
deliberately split into a host lookup (a dict keyed by registered host suffix) and a small per-platform path check:
one giant alternation regex over the whole text would be slower, harder to keep free of catastrophic backtracking,
and could not tell `zoom.us.evil.example` from `us02web.zoom.us`.

Sources: MeetingBar's provider catalogue (protocol reference, section D) and Attendee's `meeting_url_utils.py`
(attendee reference, section 3.5), tightened where their patterns accept pages that are not joinable meetings.
All regexes are compiled once at import, matched against a bounded string, and have no nested quantifiers over the
same characters, so their cost is linear in the URL length.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

# Platform identifiers returned in `MeetingLink.platform`. Stable strings: they are stored and returned by the API.
ZOOM = "zoom"
GOOGLE_MEET = "google_meet"
MICROSOFT_TEAMS = "microsoft_teams"
WEBEX = "webex"
GOTOMEETING = "gotomeeting"
BLUEJEANS = "bluejeans"
WHEREBY = "whereby"
AMAZON_CHIME = "amazon_chime"
JITSI = "jitsi"
RINGCENTRAL = "ringcentral"
SKYPE = "skype"
EIGHT_BY_EIGHT = "8x8"
LIFESIZE = "lifesize"
FACETIME = "facetime"
SLACK_HUDDLE = "slack_huddle"

PLATFORMS: frozenset[str] = frozenset(
    {
        ZOOM,
        GOOGLE_MEET,
        MICROSOFT_TEAMS,
        WEBEX,
        GOTOMEETING,
        BLUEJEANS,
        WHEREBY,
        AMAZON_CHIME,
        JITSI,
        RINGCENTRAL,
        SKYPE,
        EIGHT_BY_EIGHT,
        LIFESIZE,
        FACETIME,
        SLACK_HUDDLE,
    }
)

# A path segment ends at `/`, `?`, `#` or the end of the URL; used so `/j/123abc` or `/meet/12x` are not accepted
# as if the id were `123`/`12`.
_END = r"(?=[/?#&]|$)"

_ZOOM_RE = re.compile(
    rf"""
      /[jws]/\d+{_END}                      # /j/<id> meeting, /w/<id> webinar, /s/<id> host start link
    | /wc/(?:join/)?\d+{_END}               # web client: /wc/<id>/join, /wc/join/<id>
    | /my/[A-Za-z0-9_.-]+{_END}             # personal meeting room vanity name (no numeric id: Attendee misses it)
    | /join/?\?(?:[^#]*&)?confno=\d+        # /join?confno=<id>, also the zoommtg:// native form
    """,
    re.IGNORECASE | re.VERBOSE,
)

# Meet codes are 3-4-3 lowercase letters (ConferenceData docs); Meet also accepts the code without dashes.
# `/lookup/<name>` is the Workspace nickname form. `/new`, `/landing` etc. are not meetings, so a bare word is refused.
_MEET_RE = re.compile(
    rf"/(?:_meet/)?(?:[a-z]{{3}}-[a-z]{{4}}-[a-z]{{3}}|[a-z]{{10}}){_END}|/lookup/[A-Za-z0-9_-]+{_END}",
    re.IGNORECASE,
)

# Searched (not matched) in the percent-decoded path+query+fragment, because Teams wraps the real join path in a
# launcher (`/dl/launcher/launcher.html?url=/_#/l/meetup-join/...`) or a fragment (`/v2/?meetingjoin=true#/l/...`).
_TEAMS_RE = re.compile(r"/l/meetup-join/[^/?#\s]+/[^/?#\s]+|/meet/\d+(?=[/?#&]|$)", re.IGNORECASE)

_WEBEX_RE = re.compile(
    rf"""
      /(?:meet|join)/[A-Za-z0-9._@-]+{_END}                                  # personal room / join by name
    | (?:/[A-Za-z0-9_-]+){{1,2}}/[je]\.php\?(?:[^#]*&)?MTID=[A-Za-z0-9]+   # /<site>/j.php?MTID=..., e.php: events
    | /wbxmjs/joinservice/sites/[A-Za-z0-9_-]+/meeting/download/[A-Za-z0-9]+
    """,
    re.IGNORECASE | re.VERBOSE,
)

_GOTOMEETING_RE = re.compile(rf"/join/\d{{6,}}{_END}|/(?:index\.html)?\?(?:[^#]*&)?meetingid=\d{{6,}}", re.IGNORECASE)
_GOTO_MEET_RE = re.compile(rf"/(?:join/)?[A-Za-z0-9_-]+{_END}")
_BLUEJEANS_RE = re.compile(rf"/(?:[ms]/[A-Za-z0-9]+|\d{{5,}}){_END}")
# Whereby rooms are any slug, so the site's own pages are excluded by name.
_WHEREBY_RE = re.compile(
    rf"/(?!(?:information|user|org|login|signup|pricing|blog|about|help|api|download|embed|legal|privacy|terms)"
    rf"{_END})[A-Za-z0-9][A-Za-z0-9_-]*{_END}",
    re.IGNORECASE,
)
_WHEREBY_NON_ROOM_HOSTS = frozenset({"docs", "api", "status", "blog", "help", "support", "dev", "developer"})
_CHIME_RE = re.compile(rf"/\d{{6,}}{_END}|/meetings/?\?(?:[^#]*&)?pin=\d+", re.IGNORECASE)
_JITSI_RE = re.compile(rf"/(?!(?:static|libs|sounds|images|css|fonts|lang){_END})[A-Za-z0-9_%-]+{_END}")
_RINGCENTRAL_RE = re.compile(rf"/(?:join|j)/[A-Za-z0-9]+{_END}", re.IGNORECASE)
_SKYPE_RE = re.compile(rf"/[A-Za-z0-9]+{_END}")
_EIGHT_BY_EIGHT_RE = re.compile(rf"/[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.%-]+)?{_END}")
_LIFESIZE_RE = re.compile(rf"/\d+{_END}")
_FACETIME_RE = re.compile(rf"/join{_END}", re.IGNORECASE)
_SLACK_HUDDLE_RE = re.compile(rf"/huddle/[A-Z0-9]+/[A-Z0-9]+{_END}")

# (host, rest) -> is this a join link. `rest` is everything after the authority: path, query and fragment.
Predicate = Callable[[str, str], bool]


def _matches(pattern: re.Pattern[str]) -> Predicate:
    def check(_host: str, rest: str) -> bool:
        return pattern.match(rest) is not None

    return check


def _teams(_host: str, rest: str) -> bool:
    # Two rounds of decoding: the launcher form percent-encodes the inner join path once more than the direct form.
    decoded = unquote(rest) if "%" in rest else rest
    if "%" in decoded:
        decoded = unquote(decoded)
    if _TEAMS_RE.search(decoded):
        return True
    # light-meetings carries the meeting in base64 JSON (`coords=`); its presence is what makes it a join link.
    return "/light-meetings/launch" in decoded and "coords=" in decoded


def _whereby(host: str, rest: str) -> bool:
    label = host.partition(".")[0]
    if host != "whereby.com" and host != "appear.in" and label in _WHEREBY_NON_ROOM_HOSTS:
        return False
    return _WHEREBY_RE.match(rest) is not None


@dataclass(frozen=True, slots=True)
class HostRule:
    platform: str
    # True: the host must equal the key exactly (meet.google.com); False: the key or any subdomain of it.
    exact: bool
    accepts: Predicate


def _rule(platform: str, pattern: re.Pattern[str], *, exact: bool) -> HostRule:
    return HostRule(platform, exact, _matches(pattern))


# Keyed by the registered host (or the exact host for `exact` rules), lower-case, no trailing dot.
HOST_RULES: dict[str, tuple[HostRule, ...]] = {
    "zoom.us": (_rule(ZOOM, _ZOOM_RE, exact=False),),
    "zoom.com": (_rule(ZOOM, _ZOOM_RE, exact=False),),
    "zoom.com.cn": (_rule(ZOOM, _ZOOM_RE, exact=False),),
    "zoom-x.de": (_rule(ZOOM, _ZOOM_RE, exact=False),),
    # ZoomGov is Zoom's FedRAMP cloud; same client, same URL shapes, so the same platform (the host tells them apart).
    "zoomgov.com": (_rule(ZOOM, _ZOOM_RE, exact=False),),
    "meet.google.com": (_rule(GOOGLE_MEET, _MEET_RE, exact=True),),
    "teams.microsoft.com": (HostRule(MICROSOFT_TEAMS, True, _teams),),
    "teams.live.com": (HostRule(MICROSOFT_TEAMS, True, _teams),),
    "teams.cloud.microsoft": (HostRule(MICROSOFT_TEAMS, True, _teams),),
    "teams.microsoft.us": (HostRule(MICROSOFT_TEAMS, False, _teams),),  # gov., dod. (GCC High, DoD)
    "webex.com": (_rule(WEBEX, _WEBEX_RE, exact=False),),
    "gotomeeting.com": (_rule(GOTOMEETING, _GOTOMEETING_RE, exact=False),),
    "meet.goto.com": (_rule(GOTOMEETING, _GOTO_MEET_RE, exact=True),),
    "gotomeet.me": (_rule(GOTOMEETING, _GOTO_MEET_RE, exact=True),),
    "bluejeans.com": (_rule(BLUEJEANS, _BLUEJEANS_RE, exact=False),),
    "whereby.com": (HostRule(WHEREBY, False, _whereby),),
    "appear.in": (HostRule(WHEREBY, True, _whereby),),  # Whereby's former name; old invites still carry it
    "chime.aws": (_rule(AMAZON_CHIME, _CHIME_RE, exact=False),),
    "meet.jit.si": (_rule(JITSI, _JITSI_RE, exact=True),),
    "ringcentral.com": (_rule(RINGCENTRAL, _RINGCENTRAL_RE, exact=False),),
    "join.skype.com": (_rule(SKYPE, _SKYPE_RE, exact=True),),
    "8x8.vc": (_rule(EIGHT_BY_EIGHT, _EIGHT_BY_EIGHT_RE, exact=True),),
    "call.lifesizecloud.com": (_rule(LIFESIZE, _LIFESIZE_RE, exact=True),),
    "facetime.apple.com": (_rule(FACETIME, _FACETIME_RE, exact=True),),
    "app.slack.com": (_rule(SLACK_HUDDLE, _SLACK_HUDDLE_RE, exact=True),),
}


def platform_for(host: str, rest: str) -> str | None:
    """Platform of a URL given its lower-cased host and the rest after the authority, or None if not a join link."""
    labels = host.split(".")
    # Walk from the full host up to its parents (a.b.zoom.us, b.zoom.us, zoom.us, us): a few dict lookups,
    # and an attacker-chosen prefix such as zoom.us.evil.example never reaches a meeting key.
    for i in range(len(labels) - 1):
        rules = HOST_RULES.get(".".join(labels[i:]))
        if rules is None:
            continue
        for rule in rules:
            if (i == 0 or not rule.exact) and rule.accepts(host, rest):
                return rule.platform
        return None
    return None


# Hosts for which a scheme-less mention ("zoom.us/j/123") is accepted; see meeting_urls for the rationale.
# Longest first so the regex alternation prefers `zoom.com.cn` over `zoom.com`.
BARE_HOSTS: tuple[str, ...] = tuple(sorted(HOST_RULES, key=len, reverse=True))


# ---------------------------------------------------------------------------------------------------------------
# Redirect wrappers. Only wrappers whose target is carried explicitly (a query parameter or a literal path) and
# whose operator is a mail/security gateway or Google itself are unwrapped: an arbitrary `?redirect=` on an unknown
# site may not go where its parameter says, so such URLs are left alone (and are then not meeting links).

# Region-prefixed (nam12., eur01., ...): matched as dot-suffixes so "xsafelinks.protection..." is not one.
_SAFELINKS_SUFFIXES = (".safelinks.protection.outlook.com", ".safelinks.protection.office365.us")
# Google renders links in Calendar descriptions as google.<tld>/url?q=<target>, under the viewer's country domain.
_GOOGLE_HOST_RE = re.compile(r"(?:www\.)?google\.[a-z]{2,3}(?:\.[a-z]{2})?")
_PROOFPOINT_V2_ESCAPE_RE = re.compile(r"-([0-9A-Fa-f]{2})")


def _query_param(rest: str, name: str) -> str | None:
    """Raw (still percent-encoded) value of the first `name` parameter of the query in `rest`.

    Hand-rolled rather than `parse_qs` because `parse_qs` turns `+` into a space, which would corrupt targets that
    were encoded with `%2B`-less `+` signs, and because wrappers put the whole target in one parameter anyway.
    """
    query = rest.partition("#")[0].partition("?")[2]
    prefix = name + "="
    for pair in query.split("&"):
        if pair[: len(prefix)].lower() == prefix:
            return pair[len(prefix) :]
    return None


_REDIRECT_HOSTS = frozenset({"statics.teams.cdn.office.net", "urldefense.com", "urldefense.proofpoint.com"})


def is_redirect_host(host: str) -> bool:
    """True if `host` (lower-cased) runs one of the redirect wrappers `unwrap_redirect` understands."""
    return host in _REDIRECT_HOSTS or host.endswith(_SAFELINKS_SUFFIXES) or _GOOGLE_HOST_RE.fullmatch(host) is not None


def unwrap_redirect(host: str, rest: str) -> str | None:
    """The URL a known redirect wrapper points to (one layer, percent-decoded), or None if this is not a wrapper.

    Returns "" for a recognised wrapper whose target cannot be extracted, so the caller can stop.
    """
    if host.endswith(_SAFELINKS_SUFFIXES):
        # Only the `url` parameter: the trailing `&data=...&sdata=...&reserved=0` belongs to Microsoft.
        value = _query_param(rest, "url")
        return unquote(value) if value else ""
    if host == "statics.teams.cdn.office.net" and "/safelinks/" in rest.partition("?")[0]:
        # Teams' own SafeLinks interstitial (atp-safelinks.html?url=...).
        value = _query_param(rest, "url")
        return unquote(value) if value else ""
    if _GOOGLE_HOST_RE.fullmatch(host) and rest.startswith("/url?"):
        value = _query_param(rest, "q") or _query_param(rest, "url")
        return unquote(value) if value else ""
    if host == "urldefense.com" and rest.startswith("/v3/__"):
        # Proofpoint v3: the target is literal between `/v3/__` and `__;`. Characters it replaced by `*` are
        # recoverable only with the signed trailer; rather than guess, such links are not unwrapped.
        inner, sep, _trailer = rest[len("/v3/__") :].rpartition("__;")
        return inner if sep and "*" not in inner else ""
    if host == "urldefense.proofpoint.com" and rest.startswith("/v2/url?"):
        # Proofpoint v2: `u=` with `-XX` for %XX and `_` for `/`.
        value = _query_param(rest, "u")
        if not value:
            return ""
        return unquote(_PROOFPOINT_V2_ESCAPE_RE.sub(r"%\1", value.replace("_", "/")))
    return None


def is_meeting_host(host: str) -> bool:
    """True if `host` (lower-cased) is, or is a subdomain of, a host in HOST_RULES."""
    labels = host.split(".")
    return any(".".join(labels[i:]) in HOST_RULES for i in range(len(labels) - 1))
