"""Query-string datetimes: Attendee's syntax (Django's parse_datetime), checked by one regular expression that
the OpenAPI document publishes as the parameters' `pattern`, so the contract and the server agree exactly.

Accepted: `YYYY-MM-DD`, `T` or a space, `HH:MM`, optional `:SS` with an optional fraction (`.` or `,`, digits past
the sixth ignored), an optional offset (`Z`, `±HH`, `±HHMM`, `±HH:MM`, or ` HH:MM` / ` HHMM`: a `+` sent unencoded in a
query string); surrounding whitespace is ignored.
Without an offset the value is UTC. Only real calendar dates match (leap years included), so a value the
pattern admits is always a datetime; what remains is the range: after applying its offset the instant must lie
within 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z, what Python and both databases can represent (and
what `0001-01-01T00:00:00+14:00` is not).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

MIN_INSTANT = datetime.min.replace(tzinfo=UTC)
MAX_INSTANT = datetime.max.replace(tzinfo=UTC)
RANGE_TEXT = "0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z"
ASCII_SPACE = " \t\n\r\f\v"

# Written in the common subset of Python's and ECMA-262's regular expressions (no named groups, ASCII classes):
# it is served as JSON Schema and used here as is.
_SPACE = "[ \\t\\n\\r\\f\\v]"
_YEAR = "(?:[0-9]{3}[1-9]|[0-9]{2}[1-9]0|[0-9][1-9]00|[1-9]000)"  # 0001-9999
_LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_DATE = (
    f"(?:{_YEAR}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
    f"|{_LEAP_YEAR}-02-29)"
)
_TIME = "(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:[.,][0-9]+)?)?"
_OFFSET = "(?:[Zz]|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)"
# `+01:00` written into a URL without encoding arrives as ` 01:00` (a `+` in a query string is a space): taken as
# the positive offset it was (Attendee's own examples send it so). Minutes are required here, so the space cannot
# be mistaken for anything else.
_UNENCODED_PLUS_OFFSET = " (?:[01][0-9]|2[0-3]):?[0-5][0-9]"
_DATETIME = f"{_DATE}[Tt ]{_TIME}(?:{_SPACE}*{_OFFSET}|{_UNENCODED_PLUS_OFFSET})?"

DATETIME_PATTERN = f"^{_SPACE}*{_DATETIME}{_SPACE}*$"
# updated_at_gte / updated_after: empty means absent (Attendee falls back from one to the other).
OPTIONAL_DATETIME_PATTERN = f"^(?:{_SPACE}*{_DATETIME}{_SPACE}*)?$"

_VALID = re.compile(DATETIME_PATTERN)
# The fields of a value `_VALID` admitted (that one has no named groups, which ECMA-262 spells differently).
_FIELDS = re.compile(
    r"(?P<date>.{10}).(?P<hour>..):(?P<minute>..)(?::(?P<second>..)(?:[.,](?P<fraction>[0-9]+))?)?"
    r"[ \t\n\r\f\v]*(?:(?P<utc>[Zz])|(?P<sign>[+-])(?P<off_h>..):?(?P<off_m>..)?|(?P<plus_h>[0-9]{2}):?(?P<plus_m>..))?",
    re.DOTALL,
)


class OutOfRange(ValueError):
    """A well-formed datetime whose instant (after its offset) lies outside MIN_INSTANT..MAX_INSTANT."""


def to_utc(value: datetime) -> datetime:
    """`value` (aware) as UTC; raises OutOfRange where the conversion leaves the representable range."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise OutOfRange(value.isoformat()) from None


def parse_query_datetime(value: str) -> datetime | None:
    """An aware UTC datetime, or None when `value` is not one (naive values are UTC); raises OutOfRange."""
    text = value.strip(ASCII_SPACE)
    if not _VALID.fullmatch(value):
        return None
    fields = _FIELDS.fullmatch(text)
    if fields is None:  # cannot happen for a value _VALID admitted; kept so a drift fails closed
        return None
    year, month, day = (int(part) for part in fields["date"].split("-"))
    fraction = (fields["fraction"] or "")[:6].ljust(6, "0")
    offset = timedelta(0)
    if fields["sign"]:
        offset = timedelta(hours=int(fields["off_h"]), minutes=int(fields["off_m"] or 0))
        offset = -offset if fields["sign"] == "-" else offset
    elif fields["plus_h"]:
        offset = timedelta(hours=int(fields["plus_h"]), minutes=int(fields["plus_m"]))
    try:
        parsed = datetime(
            year,
            month,
            day,
            int(fields["hour"]),
            int(fields["minute"]),
            int(fields["second"] or 0),
            int(fraction),
            tzinfo=timezone(offset),
        )
    except ValueError:
        return None
    return to_utc(parsed)
