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
    if type(value) is EncodedObject and value.encoded is not None:
        return value.encoded.encode()
    try:
        return orjson.dumps(value, default=str)
    except orjson.JSONEncodeError:
        return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":")).encode()


def dumps_text(value: Any) -> str:
    """`dumps` as text (what SQLAlchemy's JSON columns hand to the driver)."""
    if type(value) is EncodedObject and value.encoded is not None:
        return value.encoded
    return dumps(value).decode()


class EncodedObject(dict[str, Any]):
    """A JSON object that carries its `dumps` encoding (as text), made where it had to be encoded anyway (a platform
    payload's size bound), so that writing it does not encode it again. Any change to its own keys drops the
    encoding; values nested in it are not to be changed."""

    # Set by whoever encoded it, as text: the bytes orjson returns keep its whole growth buffer (~12 KB for a
    # 1.4 KB event), and the text is what the driver takes. Made by dict's own constructor (a Python __init__
    # cost more than it saved).
    encoded: str | None = None

    def _changed(self) -> None:
        self.encoded = None

    def __setitem__(self, key: str, value: Any) -> None:
        self._changed()
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._changed()
        super().__delitem__(key)

    def __ior__(self, other: Any) -> EncodedObject:  # type: ignore[override,misc]
        self._changed()
        return super().__ior__(other)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._changed()
        super().update(*args, **kwargs)

    def pop(self, *args: Any) -> Any:
        self._changed()
        return super().pop(*args)

    def popitem(self) -> tuple[str, Any]:
        self._changed()
        return super().popitem()

    def setdefault(self, key: str, default: Any = None) -> Any:
        self._changed()
        return super().setdefault(key, default)

    def clear(self) -> None:
        self._changed()
        super().clear()


def loads(data: bytes | str) -> Any:
    """Decode a JSON document; raises ValueError when it is not one."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            return json.loads(data)
        except RecursionError:  # nested deeper than the interpreter's stack: as invalid as any other refusal
            raise ValueError("JSON nested too deeply") from None
