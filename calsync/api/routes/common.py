"""Pieces every router shares: the OpenAPI header parameters the anchor declares, and body-field hints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request

# The anchor's spec declares these two headers on every calendar operation; we keep them in the docs.
ANCHOR_HEADERS: list[dict[str, Any]] = [
    {
        "name": "Authorization",
        "in": "header",
        "required": True,
        "schema": {"type": "string", "default": "Token YOUR_API_KEY_HERE"},
        "description": "API key for authentication",
    },
    {
        "name": "Content-Type",
        "in": "header",
        "required": True,
        "schema": {"type": "string", "default": "application/json"},
        "description": "Should always be application/json",
    },
]


def allowed_fields(fields: Sequence[str]) -> Any:
    """A dependency that tells the validation handler which fields this body accepts (for the anchor's
    'Unexpected field(s)' message)."""

    def mark(request: Request) -> None:
        request.state.allowed_fields = fields

    return mark
