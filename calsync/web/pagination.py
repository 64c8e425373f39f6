"""Keyset cursor pagination with Attendee's envelope (`next`, `previous`, `results`).

A cursor names the ordering, the (sort value, id) of the row it starts after, and the direction. The id
is a unique tie-breaker, so rows written between pages never shift a page: a row that does not change
during a walk is returned exactly once; a row that changes moves to where its new sort value puts it."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request

from calsync.store.keyset import KeysetPage, SeekKey
from calsync.web.datetimes import to_utc
from calsync.web.errors import ApiError
from calsync.web.inputs import is_int64


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
    """The cursor a client handed back, checked as strictly as any other input: it is base64 of JSON we wrote,
    but a client can send anything. Whatever we would not have written is Attendee's "Invalid cursor" (404)."""
    if raw is None or raw == "":
        return None
    try:
        padded = raw + "=" * (-len(raw) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        ordering_, value, row_id, backwards = payload["o"], payload["v"], payload["i"], payload["b"]
        # The row id is compared with a BIGINT column: beyond 64 bits the drivers raise instead of comparing.
        valid = ordering_ == ordering and is_int64(row_id) and isinstance(backwards, bool) and isinstance(value, str)
        parsed = datetime.fromisoformat(value) if valid else None
        if parsed is None or parsed.tzinfo is None:
            raise invalid_cursor()
        # Compared as UTC: an offset that carries the instant out of range must not reach the driver (OutOfRange).
        return Cursor(ordering=ordering, value=to_utc(parsed), row_id=row_id, backwards=backwards)
    except (ValueError, LookupError, TypeError, RecursionError) as exc:  # binascii, JSON, Unicode, ISO and range
        raise invalid_cursor() from exc


def page_url(request: Request, cursor: Cursor | None) -> str | None:
    if cursor is None:
        return None
    return str(request.url.include_query_params(cursor=encode_cursor(cursor)))


def page_envelope(request: Request, page: KeysetPage[Any], ordering: str, results: Sequence[Any]) -> dict[str, Any]:
    """Attendee's `{next, previous, results}` for a keyset page: absolute URLs carrying the cursors of the
    neighbouring pages (null where there is none)."""

    def link(key: SeekKey | None, backwards: bool) -> str | None:
        if key is None:
            return None
        return page_url(request, Cursor(ordering, key.value, key.row_id, backwards))

    return {"next": link(page.next_key, False), "previous": link(page.previous_key, True), "results": results}


def seek_key(cursor: Cursor | None) -> SeekKey | None:
    return SeekKey(cursor.value, cursor.row_id) if cursor else None
