"""The emulator's JSON: orjson for its pages, and the response class every route answers with.

The emulator has its own copy rather than the service's codec, so it stays a package of its own. The standard
library is the fallback for the few documents orjson refuses and JSON allows (integers beyond 64 bits, NaN)."""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi import responses


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON (no ASCII escaping); values JSON has no type for are written as `str(value)`."""
    try:
        return orjson.dumps(value, default=str)
    except orjson.JSONEncodeError:
        return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":")).encode()


def loads(data: bytes | str) -> Any:
    """Decode a JSON document; raises ValueError when it is not one."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            return json.loads(data)
        except RecursionError:  # nested deeper than the interpreter's stack: as invalid as any other refusal
            raise ValueError("JSON nested too deeply") from None


class JSONResponse(responses.JSONResponse):
    """Starlette's `JSONResponse` encoded by orjson: the same compact UTF-8 JSON, several times faster."""

    def render(self, content: Any) -> bytes:
        return dumps(content)
