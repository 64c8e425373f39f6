"""What the API accepts as text and integers, decided in one place for every endpoint.

Every string a request carries (path ids, query parameters, body fields, JSON object keys) may end up in a
query or a column, and PostgreSQL refuses U+0000 in `text` and `jsonb` ("invalid byte sequence", "unsupported
Unicode escape sequence"), while no driver can encode an unpaired surrogate (U+D800-U+DFFF), which JSON's
`"\\ud800"` escape and Python's json module let through (`UnicodeEncodeError`). SQLite would store both, so
they are refused on both databases alike: a 400 that names the field, never a driver error.

Integers are compared with BIGINT columns: anything a client hands back to us (a cursor's row id) must fit
in a signed 64-bit integer, or SQLite's driver raises OverflowError and asyncpg an out-of-range error.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic_core import PydanticCustomError

# Django's ProhibitNullCharactersValidator, which Attendee's (DRF) CharField runs on every string field.
NUL_CODE = "null_characters_not_allowed"
NUL_MESSAGE = "Null characters are not allowed."
SURROGATE_CODE = "surrogate_characters_not_allowed"
SURROGATE_MESSAGE = "Unpaired surrogate characters are not allowed."

# What the OpenAPI document says of every string the API reads (JSON Schema cannot say "no lone surrogate":
# a JSON Schema string is a sequence of Unicode scalar values already).
NO_NUL_PATTERN = "^[^\\u0000]*$"

# The characters `str.strip()` removes (those of `str.isspace`), as the body of a regex class usable by Python and
# ECMA-262 alike (tests/api/test_input_rules.py pins it to str.isspace).
STRIPPED_CLASS = "\\u0009-\\u000d\\u001c-\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def text_problem(value: str) -> tuple[str, str] | None:
    """(code, message) when `value` cannot be stored on both databases, else None."""
    if "\x00" in value:
        return NUL_CODE, NUL_MESSAGE
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE_CODE, SURROGATE_MESSAGE
    return None


def check_text(value: str) -> str:
    """`value` unchanged, or a Pydantic error with the Attendee-style message (for field validators)."""
    problem = text_problem(value)
    if problem is not None:
        raise PydanticCustomError(*problem)
    return value


def first_text_problem(value: Any) -> tuple[str, str] | None:
    """The first unstorable string in a decoded JSON value, object keys included. Iterative: a document may nest
    as deep as the JSON decoder allows, deeper than Python's recursion limit."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                return problem
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return None


def printable(value: Any) -> Any:
    """`value` with every string made encodable, for echoing client input in an error body: an unpaired
    surrogate becomes its escape text (`\\ud800`) instead of failing the response's UTF-8 encoding."""
    if isinstance(value, str):
        return value if value.isascii() else value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {printable(key): printable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [printable(item) for item in value]
    return value


def trimmed_text_pattern(max_length: int) -> str:
    """The strings a DRF CharField takes (calsync.api.schemas), as a regex: 1 to `max_length` characters once the
    surrounding whitespace is trimmed, none of them NUL. Published as the field's JSON Schema `pattern`."""
    space, solid = f"[{STRIPPED_CLASS}]", f"[^{STRIPPED_CLASS}\\u0000]"
    return f"^{space}*{solid}(?:[^\\u0000]{{0,{max_length - 2}}}{solid})?{space}*$"


def quoted(value: Any) -> str:
    """A client's value as an error message quotes it (`"…" is not a valid choice.`): text as it is, anything else
    as JSON, always encodable. A value nested too deeply to serialize at this depth of the stack (the JSON parser
    admitted it, a few frames higher) is named by its type instead of failing the request."""
    if isinstance(value, str):
        return str(printable(value))
    try:
        return str(printable(json.dumps(value)))
    except RecursionError:
        return "array" if isinstance(value, list) else "object"


def is_int64(value: object) -> bool:
    """A JSON integer (not a boolean, not a float) that fits a signed 64-bit column."""
    return isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX
