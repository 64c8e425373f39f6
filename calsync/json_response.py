"""The JSON response of calsync's HTTP servers, the API and the emulator alike."""

from __future__ import annotations

from typing import Any

from fastapi import responses

from calsync import json_codec


class JSONResponse(responses.JSONResponse):
    """Starlette's `JSONResponse` encoded by orjson (calsync.json_codec): the same compact UTF-8 JSON
    (`separators=(",", ":")`, no ASCII escaping), ~5x faster for a 146 kB page of events or a platform page
    of the emulator. It also renders
    `orjson.Fragment` values (stored JSON spliced in unparsed, as calsync.api.serializers.event_json does);
    the standard-library fallback of json_codec is only taken for documents orjson refuses (integers beyond
    64 bits), which an event page, whose JSON columns are all fragments, cannot contain."""

    def render(self, content: Any) -> bytes:
        return json_codec.dumps(content)
