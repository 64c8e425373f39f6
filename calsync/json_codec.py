"""JSON for the hot paths: platform pages, event digests, JSON columns, API pages.

orjson encodes and decodes several times faster than the standard library, whose JSON was a third of the
worker's CPU on an initial sync (docs/benchmarks.md §2). The standard library stays as the
fallback for the few documents orjson refuses and JSON itself allows (integers beyond 64 bits, NaN), so a
platform page that decoded before still decodes."""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON (no ASCII escaping); values JSON has no type for are written as `str(value)`."""
    try:
        return orjson.dumps(value, default=str)
    except orjson.JSONEncodeError:
        return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":")).encode()


def dumps_text(value: Any) -> str:
    """`dumps` as text (what SQLAlchemy's JSON columns hand to the driver)."""
    return dumps(value).decode()


def loads(data: bytes | str) -> Any:
    """Decode a JSON document; raises ValueError when it is not one."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            return json.loads(data)
        except RecursionError:  # nested deeper than the interpreter's stack: as invalid as any other refusal
            raise ValueError("JSON nested too deeply") from None
