"""Keyset cursor pagination with the anchor's envelope (`next`, `previous`, `results`).

A cursor names the ordering, the (sort value, id) of the row it starts after, and the direction. The id
is a unique tie-breaker, so rows written between pages never shift a page: a row that does not change
during a walk is returned exactly once; a row that changes moves to where its new sort value puts it."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request

from calsync.api.errors import ApiError
from calsync.store.keyset import KeysetPage, SeekKey


@dataclass(frozen=True)
class Cursor:
    ordering: str
    value: datetime
    row_id: int
    backwards: bool  # True: the page *before* this key


def invalid_cursor() -> ApiError:
    return ApiError(404, {"detail": "Invalid cursor", "code": "invalid_cursor"})


def encode_cursor(cursor: Cursor) -> str:
    payload = {"o": cursor.ordering, "v": cursor.value.isoformat(), "i": cursor.row_id, "b": cursor.backwards}
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(raw: str | None, ordering: str) -> Cursor | None:
    if raw is None or raw == "":
        return None
    try:
        padded = raw + "=" * (-len(raw) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        cursor = Cursor(
            ordering=str(payload["o"]),
            value=datetime.fromisoformat(payload["v"]),
            row_id=int(payload["i"]),
            backwards=bool(payload["b"]),
        )
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeEncodeError, json.JSONDecodeError) as exc:
        raise invalid_cursor() from exc
    if cursor.ordering != ordering or cursor.value.tzinfo is None:
        raise invalid_cursor()
    return cursor


def page_url(request: Request, cursor: Cursor | None) -> str | None:
    if cursor is None:
        return None
    return str(request.url.include_query_params(cursor=encode_cursor(cursor)))


def page_envelope(
    request: Request, page: KeysetPage[Any], ordering: str, results: list[dict[str, Any]]
) -> dict[str, Any]:
    """The anchor's `{next, previous, results}` for a keyset page: absolute URLs carrying the cursors of the
    neighbouring pages (null where there is none)."""

    def link(key: SeekKey | None, backwards: bool) -> str | None:
        if key is None:
            return None
        return page_url(request, Cursor(ordering, key.value, key.row_id, backwards))

    return {"next": link(page.next_key, False), "previous": link(page.previous_key, True), "results": results}


def seek_key(cursor: Cursor | None) -> SeekKey | None:
    return SeekKey(cursor.value, cursor.row_id) if cursor else None
