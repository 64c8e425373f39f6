"""Pieces every router shares: the routes of the Attendee-compatible resources (with the OpenAPI header parameters
Attendee declares), body-field hints, and the check every path and query parameter passes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Query, Request
from fastapi.routing import APIRoute

from calsync.web.datetimes import DATETIME_PATTERN, OPTIONAL_DATETIME_PATTERN, RANGE_TEXT
from calsync.web.errors import bad_query, is_json_media_type, unsupported_media_type
from calsync.web.inputs import text_problem

# Attendee's spec declares these two headers on every calendar operation; we keep them in the docs (Content-Type
# only where there is a body: calsync/api/openapi.py).
ATTENDEE_HEADERS: list[dict[str, Any]] = [
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


class AttendeeRoute(APIRoute):
    """A route of an Attendee-compatible resource (a router's `route_class`): its operation declares Attendee's
    header parameters, which calsync/api/openapi.py turns into the API key security requirement."""

    def __init__(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        if kwargs.get("openapi_extra") is None:
            kwargs["openapi_extra"] = {"parameters": ATTENDEE_HEADERS}
        super().__init__(path, endpoint, **kwargs)


def allowed_fields(fields: Sequence[str]) -> Any:
    """A dependency that tells the validation handler which fields this body accepts (for Attendee's
    'Unexpected field(s)' message)."""

    def mark(request: Request) -> None:
        request.state.allowed_fields = fields

    return mark


async def reject_unstorable_parameters(request: Request) -> None:
    """An app-wide dependency: no path or query parameter of any endpoint (ids, filters, keys, their names too)
    may carry a string the databases cannot take (calsync.web.inputs). Runs before the endpoint's own
    parameters are read, so no handler ever sees one. (Async: a sync dependency would cost a thread hop.)"""
    for name, value in (*request.path_params.items(), *request.query_params.multi_items()):
        problem = text_problem(name) or text_problem(str(value))
        if problem is not None:
            code, message = problem
            raise bad_query(f"Invalid {name}: {message}", code, field=name)


async def require_json_media_type(request: Request) -> None:
    """An app-wide dependency: an operation that takes a body takes JSON only, declared as such. Without this, a
    body sent without a Content-Type would be refused only when it also failed validation. A body that is
    optional may be left out (with any or no Content-Type)."""
    body_field = getattr(request.scope.get("route"), "body_field", None)
    if body_field is None:
        return
    content_type = request.headers.get("content-type")
    if content_type is not None and is_json_media_type(content_type):
        return
    if content_type is None and not body_field.field_info.is_required() and not _has_body(request):
        return
    raise unsupported_media_type(content_type or "")


def _has_body(request: Request) -> bool:
    if "transfer-encoding" in request.headers:
        return True
    try:
        return int(request.headers.get("content-length", "0")) > 0
    except ValueError:
        return True


def datetime_query(description: str, empty_is_absent: bool = False, deprecated: bool = False) -> Any:
    """A datetime filter, documented with the exact syntax `parse_query_datetime` takes (calsync.web.datetimes).
    Only the documentation: the value is parsed by the handler, which words its errors as Attendee does."""
    pattern = OPTIONAL_DATETIME_PATTERN if empty_is_absent else DATETIME_PATTERN
    return Query(
        description=f"{description}. Between {RANGE_TEXT} once its UTC offset is applied.",
        json_schema_extra={"pattern": pattern},
        deprecated=deprecated,
    )
