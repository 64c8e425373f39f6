"""Meeting-URL extraction: find the join link of an event in its conference data, location, body or title.

The caller (the provider normalizers) passes candidate texts in priority order — structured conference data first,
then location, description/body, summary — and `find_meeting_url` returns the first meeting link of the first text
that has one. See docs/meeting-urls.md for the recognised platforms and the decisions behind the behaviour.

How one text is scanned:
1. URL candidates are found: anything after `http://`, `https://` or `zoommtg://` (scheme matched case-insensitively)
   up to whitespace, `<`, `>`, quotes, backtick or square brackets — which also delimits URLs in HTML `href="..."`,
   `<...>` and Markdown `[text](...)` — plus scheme-less mentions of known meeting hosts only (`zoom.us/j/1`).
   Both scans are anchored on literals (`://`, the `/` after a host), so they cost little more than `str.find`.
2. Per candidate: well-formed HTML entities (`&amp;`) are decoded, trailing punctuation and unbalanced closing
   brackets are stripped, known redirect wrappers (Outlook SafeLinks, Google `/url?q=`, Proofpoint) are unwrapped,
   repeatedly, and the host/path is checked against the platform rules in `meeting_url_patterns`.
3. The first candidate that is a meeting link wins; a later candidate that is the same URL plus more query
   (`https://zoom.us/j/1` then `https://zoom.us/j/1?pwd=x`) replaces it, because the longer one carries the passcode.
4. If nothing was found and a candidate ran into an HTML tag, the scan is repeated once on the text with inline
   tags removed and block tags turned into spaces, which rejoins URLs split by `<wbr>`, `<span>` and the like
   (the reference's fifth source, "body with HTML tags stripped").

Everything is compiled at import; every regex is linear in its input; unwrapping is capped; candidates longer than
`MAX_URL_LENGTH` are ignored. The function never raises on any `str`.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from calsync.providers.meeting_url_patterns import (
    BARE_HOSTS,
    PLATFORMS,
    is_meeting_host,
    is_redirect_host,
    platform_for,
    unwrap_redirect,
)

__all__ = ["MAX_URL_LENGTH", "PLATFORMS", "MeetingLink", "find_meeting_url"]


@dataclass(frozen=True)
class MeetingLink:
    url: str  # the join URL, unwrapped (SafeLinks/entities removed); scheme lower-cased; otherwise as found
    platform: str  # one of PLATFORMS: "zoom" | "google_meet" | "microsoft_teams" | "webex" | "gotomeeting" | ...


# Real join URLs are well under 2 KB even wrapped in SafeLinks (Teams light-meetings links are the longest, ~1.5 KB).
# Anything longer is not a meeting link we want, and the cap bounds the per-candidate work on hostile input.
MAX_URL_LENGTH = 4096
# Nesting depth of redirect wrappers (a SafeLink wrapping a SafeLink). Each layer strictly shrinks the string,
# so this is a backstop; MeetingBar uses 32, real mail never nests more than two or three.
_MAX_UNWRAP_DEPTH = 16
# Rounds of entity decoding: `&amp;amp;` (double-escaped HTML, seen when an HTML body is pasted into another) needs 2.
_MAX_UNESCAPE_ROUNDS = 3

_DELIMITERS = r"\s<>\"'`\[\]"
# The body of a URL: everything up to a delimiter. Also delimits URLs in href="...", <...> and Markdown [text](...).
_BODY_RE = re.compile(rf"[^{_DELIMITERS}]*")
_SCHEMES = ("https", "http", "zoommtg")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# A scheme preceded by one of these is the tail of a longer token ("xhttps://", "git+https://"), not a URL start.
_SCHEME_GLUE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
# Scheme-less candidates are located by the slash that ends their host (".us/", ".com/", ...): a regex that starts
# with a literal is searched with a fast scan in `re`, whereas a pattern that can start anywhere (a host label) costs
# a match attempt at every position — measured 30x slower on an 8 KB description. Separate fixed-width lookbehinds
# because `re` does not allow one lookbehind with alternatives of different widths.
_BARE_TLDS = sorted({host.rpartition(".")[2] for host in BARE_HOSTS}, key=len, reverse=True)
_BARE_TAIL_RE = re.compile(
    "/(?:" + "|".join(rf"(?<=\.{re.escape(tld)}/)" for tld in _BARE_TLDS) + ")",
    re.IGNORECASE,
)
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
_MAX_HOST_LENGTH = 253
# Scheme-less hits are examined with a little Python each; real text has a handful, so a cap bounds hostile input
# ("zoom.us/" repeated thousands of times) without affecting any real description.
_MAX_BARE_HITS = 256
_BARE_GLUE = frozenset("_.@/:%+~=&#-")
_CUT_RE = re.compile(rf"[{_DELIMITERS}]")
# Only well-formed entities with a semicolon. `html.unescape` on a whole URL would also decode legacy entities
# without one, turning the query `?a=1&not=2` into `?a=1¬=2`.
_ENTITY_RE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_URL_PARTS_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(.*)", re.DOTALL)
_ALLOWED_SCHEMES = frozenset({"http", "https", "zoommtg"})
_TAG_RE = re.compile(r"<[^<>]*>")
_TAG_NAME_RE = re.compile(r"<\s*/?\s*([A-Za-z][A-Za-z0-9]*)")
# Inline tags can sit inside a URL (an editor's <wbr>, <span> around part of it): removed, they rejoin it. Any other
# tag (<br>, <p>, <div>, <td> ...) separates text, so it becomes a space and cannot glue a URL to the next word.
_INLINE_TAGS = frozenset({"wbr", "span", "a", "b", "i", "u", "em", "strong", "font", "small", "code", "o", "mark"})


def _tag_replacement(match: re.Match[str]) -> str:
    name = _TAG_NAME_RE.match(match.group())
    return "" if name is not None and name.group(1).lower() in _INLINE_TAGS else " "


_TRAILING_PUNCTUATION = frozenset(".,;:!?*'\"")
_CLOSERS = {")": "(", "]": "[", "}": "{"}


def find_meeting_url(*texts: str | None) -> MeetingLink | None:
    """First meeting link in the first text (in the given priority order) that has one."""
    for text in texts:
        # Every candidate has a slash ("://" or a host's "tld/"), so a text without one is skipped unscanned.
        if not text or not isinstance(text, str) or "/" not in text:
            continue
        seen: set[str] = set()
        candidates = _candidates(text)
        link = _best_link(candidates, seen)
        # The tag-stripped retry only helps when a URL ran into a tag ("https://zoom.us/j/<wbr>123"); checking that
        # first keeps ordinary HTML bodies at one scan.
        if link is None and any(text.startswith("<", start + len(cand)) for start, cand, _ in candidates):
            stripped = _TAG_RE.sub(_tag_replacement, text)
            # Only candidates that tag removal created are new; the others were already rejected above.
            link = _best_link(_candidates(stripped), seen)
        if link is not None:
            return link
    return None


def _best_link(candidates: list[tuple[int, str, bool]], seen: set[str]) -> MeetingLink | None:
    best: MeetingLink | None = None
    best_folded = ""
    for _start, candidate, bare in candidates:
        if candidate in seen:
            continue
        seen.add(candidate)
        link = _resolve(candidate, bare=bare)
        if link is None:
            continue
        if best is None:
            best, best_folded = link, link.url.casefold()
            continue
        folded = link.url.casefold()
        # "Prefer the longest match" (protocol reference D), limited to the same URL extended by more query or a
        # fragment: a different meeting later in the text must never displace the first one.
        if len(folded) > len(best_folded) and folded.startswith(best_folded) and folded[len(best_folded)] in "?&#":
            best, best_folded = link, folded
    return best


def _candidates(text: str) -> list[tuple[int, str, bool]]:
    """(start, candidate, is_scheme_less) for every URL-looking token, in text order."""
    found = _schemed_candidates(text)
    bare = _bare_candidates(text, [(start, start + len(cand)) for start, cand, _ in found])
    if bare:
        found.extend(bare)
        found.sort(key=lambda item: item[0])
    return found


def _schemed_candidates(text: str) -> list[tuple[int, str, bool]]:
    # Anchored on the literal "://" (a C-speed `str.find`), then the scheme is read backwards; the scheme is
    # case-insensitive (`HTTPS://ZOOM.US/j/1` counts), which Attendee's regex missed.
    found: list[tuple[int, str, bool]] = []
    sep = text.find("://")
    while sep != -1:
        start = sep
        while start > 0 and sep - start < 7 and text[start - 1] in _SCHEME_CHARS:
            start -= 1
        body = _BODY_RE.match(text, sep + 3)
        end = body.end() if body is not None else sep + 3
        if (
            end > sep + 3
            and text[start:sep].lower() in _SCHEMES
            and (start == 0 or text[start - 1] not in _SCHEME_GLUE)
        ):
            found.append((start, text[start:end], False))
            sep = text.find("://", end)
        else:
            sep = text.find("://", sep + 3)
    return found


def _bare_candidates(text: str, taken: list[tuple[int, int]]) -> list[tuple[int, str, bool]]:
    # Scheme-less mentions ("zoom.us/j/123" typed into a location) of known meeting hosts only: a bare
    # "example.com/x" is never a candidate, so the decision cannot produce false positives on ordinary text.
    found: list[tuple[int, str, bool]] = []
    span = 0  # index into `taken` (sorted by start): hits inside a schemed URL are part of that URL
    examined = 0
    for match in _BARE_TAIL_RE.finditer(text):
        slash = match.start()
        while span < len(taken) and taken[span][1] <= slash:
            span += 1
        if span < len(taken) and taken[span][0] <= slash:
            continue
        examined += 1
        if examined > _MAX_BARE_HITS:
            break
        start = slash
        limit = max(0, start - _MAX_HOST_LENGTH)
        while start > limit and text[start - 1] in _HOST_CHARS:
            start -= 1
        # Preceded by a word character, `@` (an e-mail address), `/`, `=`, `%` ... it is part of something longer.
        if start > 0 and (text[start - 1].isalnum() or text[start - 1] in _BARE_GLUE):
            continue
        host = text[start:slash].lower()
        if not is_meeting_host(host):
            continue
        body = _BODY_RE.match(text, slash)
        end = body.end() if body is not None else slash
        found.append((start, text[start:end], True))
    return found


def _resolve(candidate: str, *, bare: bool) -> MeetingLink | None:
    if len(candidate) > MAX_URL_LENGTH:
        return None
    if not bare:
        # Cheap early exit for the common case (a description full of ordinary links): the host cannot be changed
        # by entity decoding or punctuation stripping, so a host that is neither a meeting host nor a known
        # wrapper settles it before any of the per-URL work below.
        parts = _split(candidate)
        if parts is None or not (is_meeting_host(parts[1]) or is_redirect_host(parts[1])):
            return None
    url = _strip_trailing(_decode_entities(candidate))
    if not url:
        return None
    if bare:
        url = "https://" + url
    for _ in range(_MAX_UNWRAP_DEPTH):
        parts = _split(url)
        if parts is None:
            return None
        scheme, host, rest = parts
        target = unwrap_redirect(host, rest)
        if target is None:
            platform = platform_for(host, rest)
            if platform is None:
                return None
            return MeetingLink(url=scheme + url[len(scheme) :], platform=platform)
        # The target is exact (it came out of a parameter), so it is not punctuation-stripped, but it may still
        # carry entities (step 1 of the reference's unwrapping recipe) and must not smuggle in whitespace.
        url = _decode_entities(target.strip())
        if not url or len(url) > MAX_URL_LENGTH:
            return None
    return None


def _split(url: str) -> tuple[str, str, str] | None:
    """(lower-cased scheme, lower-cased host, rest after the authority) or None if not an http(s)/zoommtg URL."""
    match = _URL_PARTS_RE.match(url)
    if match is None:
        return None
    scheme = match.group(1).lower()
    if scheme not in _ALLOWED_SCHEMES:
        return None
    # userinfo@host:port -> host. The last `@` decides, as in browsers: https://zoom.us@evil.example is evil.example.
    host = match.group(2).rpartition("@")[2]
    if host.startswith("["):  # IPv6 literal: never a meeting host
        return None
    host = host.partition(":")[0].lower().rstrip(".")
    if not host:
        return None
    return scheme, host, match.group(3)


def _decode_entities(url: str) -> str:
    for _ in range(_MAX_UNESCAPE_ROUNDS):
        if "&" not in url:
            break
        decoded = _ENTITY_RE.sub(lambda m: html.unescape(m.group()), url)
        if decoded == url:
            break
        url = decoded
    # Decoding can reveal a delimiter (`&quot;`, `&lt;`, `&gt;`, `&#39;`): the URL ended there.
    cut = _CUT_RE.search(url)
    return url[: cut.start()] if cut else url


def _strip_trailing(url: str) -> str:
    """Drop sentence punctuation and unbalanced closing brackets from the end; balanced ones are part of the URL."""
    end = len(url)
    # Bracket counts are kept up to date while stripping, so the loop is linear even for "))))))...". A bracket's
    # are counted when one ends the URL (most URLs end in neither); nothing stripped before is an opener, and
    # no closer of its kind, so counting the whole URL then is counting what is left.
    counts: dict[str, tuple[int, int]] = {}
    while end:
        char = url[end - 1]
        if char in _CLOSERS:
            if char not in counts:
                counts[char] = (url.count(_CLOSERS[char]), url.count(char))
            opened, closed = counts[char]
            if opened >= closed:
                break
            counts[char] = (opened, closed - 1)
        elif char not in _TRAILING_PUNCTUATION and char != ">":
            break
        end -= 1
    return url[:end]
