"""Graph's `$filter` and `$orderby` for event listings (`/me/events`, `/me/calendars/{id}/events`).

What Outlook documents and is seen answering for events: comparisons (`eq ne gt ge lt le`) of a property
with a literal, joined by `and` / `or`, negated by `not`, grouped by parentheses, e.g.
`start/dateTime ge '2026-03-01T00:00:00Z' and subject eq 'Standup'`. Property names are case-insensitive
(`Start/DateTime` works). Date-times are compared as instants, a literal without an offset being UTC (the
zone events are rendered in without `Prefer: outlook.timezone`); strings compare case-insensitively, as
Exchange does. Errors are Graph's: a property the event has but that cannot be filtered on is
`ErrorInvalidProperty` "The property 'X' does not support filtering.", one it does not have is
"Could not find a property named …", and anything unparsable is `BadRequest` "Invalid filter clause".
Functions (`contains`, `startswith`, lambda `any`) are not implemented and are refused as unparsable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from calsync_emulator.timeutil import parse_graph_datetime

Predicate = Callable[[dict[str, Any]], bool]

# the filterable properties: lowercased path -> (rendered JSON path, value kind)
FILTERABLE: dict[str, tuple[tuple[str, ...], str]] = {
    "start/datetime": (("start", "dateTime"), "datetime"),
    "end/datetime": (("end", "dateTime"), "datetime"),
    "createddatetime": (("createdDateTime",), "datetime"),
    "lastmodifieddatetime": (("lastModifiedDateTime",), "datetime"),
    "subject": (("subject",), "string"),
    "type": (("type",), "string"),
    "showas": (("showAs",), "string"),
    "importance": (("importance",), "string"),
    "sensitivity": (("sensitivity",), "string"),
    "icaluid": (("iCalUId",), "string"),
    "seriesmasterid": (("seriesMasterId",), "string"),
    "location/displayname": (("location", "displayName"), "string"),
    "organizer/emailaddress/address": (("organizer", "emailAddress", "address"), "string"),
    "isallday": (("isAllDay",), "bool"),
    "iscancelled": (("isCancelled",), "bool"),
    "isorganizer": (("isOrganizer",), "bool"),
    "isonlinemeeting": (("isOnlineMeeting",), "bool"),
}
# event properties Outlook refuses to filter on (answered ErrorInvalidProperty rather than "not found")
NOT_FILTERABLE = frozenset({"id", "recurrence", "body", "attendees", "categories", "onlinemeeting", "start", "end"})
ORDERABLE = frozenset({"start/datetime", "end/datetime", "createddatetime", "lastmodifieddatetime", "subject"})

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<paren>[()])|(?P<word>[A-Za-z_][A-Za-z0-9_/.]*)"
    r"|(?P<lit>[0-9][0-9:.TZ+-]*))"
)
_OPS = {"eq", "ne", "gt", "ge", "lt", "le"}


class FilterError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _invalid() -> FilterError:
    return FilterError("BadRequest", "Invalid filter clause")


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos, text = 0, text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise _invalid()
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _value(rendered: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = rendered
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _instant(text: str) -> datetime:
    return parse_graph_datetime(text).astimezone(UTC)


def _property(name: str) -> tuple[tuple[str, ...], str]:
    key = name.lower()
    if key in FILTERABLE:
        return FILTERABLE[key]
    if key.split("/", 1)[0] in NOT_FILTERABLE:
        raise FilterError("ErrorInvalidProperty", f"The property '{name.split('/', 1)[0]}' does not support filtering.")
    raise FilterError(
        "RequestBroker--ParseUri",
        f"Could not find a property named '{name}' on type 'Microsoft.OutlookServices.Event'.",
    )


def _comparison(name: str, op: str, kind_token: str, literal: str) -> Predicate:
    path, kind = _property(name)
    if kind_token == "str":
        raw: Any = literal[1:-1].replace("''", "'")
    elif literal.lower() in ("true", "false"):
        raw = literal.lower() == "true"
    elif literal.lower() == "null":
        raw = None
    else:
        raw = literal
    want: Any
    try:
        if raw is None:
            want = None
        elif kind == "datetime":
            want = _instant(str(raw))
        elif kind == "bool":
            if not isinstance(raw, bool):
                raise _invalid()
            want = raw
        else:
            want = str(raw).lower()
    except ValueError:
        raise _invalid() from None

    def have(rendered: dict[str, Any]) -> Any:
        value = _value(rendered, path)
        if value is None:
            return None
        if kind == "datetime":
            return _instant(str(value))
        return str(value).lower() if kind == "string" else value

    def test(rendered: dict[str, Any]) -> bool:
        value = have(rendered)
        if op in ("eq", "ne"):
            return (value == want) is (op == "eq")
        if value is None or want is None:
            return False
        result: bool = {
            "gt": value > want,
            "ge": value >= want,
            "lt": value < want,
            "le": value <= want,
        }[op]
        return result

    return test


def parse_filter(text: str) -> Predicate:
    tokens = _tokens(text)
    pos = 0

    def peek_word(*words: str) -> bool:
        return pos < len(tokens) and tokens[pos][0] == "word" and tokens[pos][1].lower() in words

    def expr() -> Predicate:
        nonlocal pos
        parts = [conjunction()]
        while peek_word("or"):
            pos += 1
            parts.append(conjunction())
        return parts[0] if len(parts) == 1 else (lambda e: any(p(e) for p in parts))

    def conjunction() -> Predicate:
        nonlocal pos
        parts = [unary()]
        while peek_word("and"):
            pos += 1
            parts.append(unary())
        return parts[0] if len(parts) == 1 else (lambda e: all(p(e) for p in parts))

    def unary() -> Predicate:
        nonlocal pos
        if peek_word("not"):
            pos += 1
            inner = unary()
            return lambda e: not inner(e)
        if pos < len(tokens) and tokens[pos] == ("paren", "("):
            pos += 1
            inner = expr()
            if pos >= len(tokens) or tokens[pos] != ("paren", ")"):
                raise _invalid()
            pos += 1
            return inner
        if pos + 3 > len(tokens):
            raise _invalid()
        (kind_a, name), (kind_op, op), (kind_lit, literal) = tokens[pos : pos + 3]
        if kind_a != "word" or kind_op != "word" or op.lower() not in _OPS or kind_lit not in ("str", "word", "lit"):
            raise _invalid()
        pos += 3
        return _comparison(name, op.lower(), kind_lit, literal)

    predicate = expr()
    if pos != len(tokens):
        raise _invalid()
    return predicate


def parse_orderby(text: str) -> list[tuple[tuple[str, ...], str, bool]]:
    """`$orderby=start/dateTime desc,subject` -> [(JSON path, kind, descending)]."""
    keys: list[tuple[tuple[str, ...], str, bool]] = []
    for clause in text.split(","):
        words = clause.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise FilterError("BadRequest", "Invalid $orderby clause")
        if words[0].lower() not in ORDERABLE:
            _property(words[0])  # raises for unknown ones with Graph's own messages
            raise FilterError("ErrorInvalidProperty", f"The property '{words[0]}' does not support sorting.")
        path, kind = FILTERABLE[words[0].lower()]
        keys.append((path, kind, len(words) == 2 and words[1].lower() == "desc"))
    return keys


def sort_rendered(items: list[dict[str, Any]], keys: list[tuple[tuple[str, ...], str, bool]]) -> list[dict[str, Any]]:
    for path, kind, descending in reversed(keys):  # stable sorts, least significant key first

        def key(item: dict[str, Any], path: tuple[str, ...] = path, kind: str = kind) -> Any:
            value = _value(item, path)
            if kind == "datetime":
                return _instant(str(value)) if value else datetime.min.replace(tzinfo=UTC)
            return str(value or "").lower()

        items.sort(key=key, reverse=descending)
    return items
