"""Error responses. Attendee's shapes are kept exactly (field dicts for validation, `{"error": …}` for
not-found and query errors, `{"detail": …}` for auth, throttling and parsing) so existing clients keep
working; we add a machine-readable `code` where the shape allows it without looking like a field."""

from __future__ import annotations

import asyncio
import email.message
import uuid
from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from calsync.json_response import JSONResponse
from calsync.store.transient import transient_kind
from calsync.web.inputs import SURROGATE_MESSAGE, printable
from calsync.web.ratelimit import retry_after_seconds

log = structlog.get_logger(__name__)

# How many times a read that met a database fault is answered again, and the pause before each.
READ_REPLAYS = 2
REPLAY_DELAY_SECONDS = 0.05


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = headers


def not_found(message: str) -> ApiError:
    return ApiError(404, {"error": message, "code": "not_found"})


def bad_query(message: str, code: str = "invalid_parameter", field: str | None = None) -> ApiError:
    """A query, path or header parameter refused: Attendee's `{"error": …}` plus our `code` and the `field`."""
    body = {"error": message, "code": code}
    if field is not None:
        body["field"] = field
    return ApiError(400, body)


def field_errors(errors: dict[str, list[str]]) -> ApiError:
    return ApiError(400, dict(errors))


async def api_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    # Error bodies may echo client input (an unknown choice, a field name): keep them encodable.
    return JSONResponse(printable(exc.body), status_code=exc.status, headers=exc.headers)


# FastAPI's text when the body could not be decoded at all (invalid UTF-8, an integer of more than 4300 digits):
# anything but a JSONDecodeError, which it reports as a validation error instead.
_FASTAPI_BODY_ERROR = "There was an error parsing the body"


async def http_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail
    headers = exc.headers
    if exc.status_code == 400 and detail == _FASTAPI_BODY_ERROR:
        reason = printable(str(exc.__cause__)) if exc.__cause__ is not None else "invalid JSON"
        return JSONResponse({"detail": f"JSON parse error - {reason}", "code": "invalid_json"}, status_code=400)
    if exc.status_code == 404 and detail == "Not Found":
        detail = "Not found."
    if exc.status_code == 405:
        detail = "Method not allowed."
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=headers)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str:
    """Every method the path has, asked of the router itself (`matches`, the routing interface, as routes nest
    inside included routers). Starlette's 405 names only the first route's, but each of FastAPI's routes has one
    method, and RFC 9110 wants them all in `Allow`."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    )


def is_json_media_type(content_type: str) -> bool:
    """Whether FastAPI parses a body of this Content-Type as JSON (`application/json`, `application/…+json`):
    the same parse of the header as FastAPI's, so the two never disagree."""
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(
        415, {"detail": f'Unsupported media type "{content_type}" in request.', "code": "unsupported_media_type"}
    )


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    body, status = translate_validation_errors(exc.errors(), getattr(request.state, "allowed_fields", None))
    return JSONResponse(printable(body), status_code=status)


_DRF_MESSAGES = {
    "missing": "This field is required.",
    "string_type": "Not a valid string.",
    "int_parsing": "A valid integer is required.",
    "bool_parsing": "Must be a valid boolean.",
}


def translate_validation_errors(
    errors: Sequence[Any], allowed_fields: Sequence[str] | None
) -> tuple[dict[str, Any], int]:
    """Pydantic errors → the DRF error dict Attendee returns. Unknown-field errors are reported only when
    every known field is valid, as Attendee does."""
    fields: dict[str, list[str]] = {}
    unknown: list[str] = []
    for error in errors:
        where = error.get("loc", ())[:1]
        loc = [str(part) for part in error.get("loc", ())[1:]] if where else []
        kind = error.get("type", "")
        if kind == "json_invalid":
            return {"detail": f"JSON parse error - {error.get('msg', 'invalid JSON')}", "code": "invalid_json"}, 400
        if not loc and kind == "string_unicode":
            # pydantic cannot read an object key holding a lone surrogate (which field it is cannot be said).
            fields.setdefault("non_field_errors", []).append(SURROGATE_MESSAGE)
            continue
        if not loc:
            # The body itself is not an object (e.g. a JSON array or a string).
            got = type(error.get("input")).__name__
            got = {"NoneType": "null"}.get(got, got)
            fields.setdefault("non_field_errors", []).append(f"Invalid data. Expected a dictionary, but got {got}.")
            continue
        if kind == "extra_forbidden":
            unknown.append(loc[0])
            continue
        if where in (("query",), ("path",), ("header",)):
            name = loc[0] if loc else "parameter"
            return bad_query(f"Invalid {name}: {error.get('msg')}", "invalid_parameter", field=name).body, 400
        message = _DRF_MESSAGES.get(kind) or str(error.get("msg", "Invalid value."))
        # Custom validators raise ValueError("…"); pydantic prefixes "Value error, ".
        message = message.removeprefix("Value error, ")
        fields.setdefault(loc[0] if loc else "non_field_errors", []).append(message)
    if not fields and unknown:
        allowed = ", ".join(sorted(allowed_fields or ()))
        fields["non_field_errors"] = [
            f"Unexpected field(s): {', '.join(sorted(unknown))}. Allowed fields are: {allowed}"
        ]
    return fields, 400


class CatchAllMiddleware:
    """Outermost safety net: any unexpected exception becomes a JSON 500 with an error id that is also
    logged with the traceback, and never a traceback in the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        # A read is answered again on a fresh connection when the database dropped the one it used (a restart,
        # pg_terminate_backend): the pool replaces dead connections after the first failure. Writes are not
        # replayed (their commit may have happened); they get 503 and the client retries.
        replays = READ_REPLAYS if scope.get("method") in ("GET", "HEAD") else 0
        for attempt in range(replays + 1):
            try:
                await self.app(scope, receive, tracking_send)
                return
            except Exception as exc:
                fault = transient_kind(exc)
                if fault is None or started:
                    await self._unexpected(scope, receive, send, started)
                    return
                if attempt < replays:
                    log.info("request_replayed_after_database_fault", path=scope.get("path"), database_fault=fault)
                    await asyncio.sleep(REPLAY_DELAY_SECONDS * (attempt + 1))
                    continue
                # An expected event (the database dropped a connection, deadlocked, or refuses new ones): the
                # client may retry the request, nothing was half-done (every request is one transaction).
                log.warning("request_database_unavailable", path=scope.get("path"), database_fault=fault)
                response = JSONResponse(
                    {
                        "detail": "The database is temporarily unavailable; retry shortly.",
                        "code": "database_unavailable",
                    },
                    status_code=503,
                    headers={"Retry-After": "2"},
                )
                await response(scope, receive, send)
                return

    async def _unexpected(self, scope: Scope, receive: Receive, send: Send, started: bool) -> None:
        """The exception being handled is a bug: logged with its traceback, answered with a JSON 500 and an error
        id (called inside the `except` block, so the traceback and a bare `raise` refer to it)."""
        error_id = str(uuid.uuid4())
        log.exception("unhandled_error", error_id=error_id, path=scope.get("path"), method=scope.get("method"))
        if started:
            raise
        response = JSONResponse(
            {
                "error": f"An unexpected error occurred. Error ID: {error_id}",
                "code": "internal_error",
                "error_id": error_id,
            },
            status_code=500,
        )
        await response(scope, receive, send)


class BodySizeLimitMiddleware:
    """Rejects bodies over the limit with 413 before they are read into memory, whether or not the client
    sent a Content-Length."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(scope, receive, send)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException passes through FastAPI's body parsing untouched.
                    raise BodyTooLarge(self.max_bytes)
            return message

        try:
            await self.app(scope, limited_receive, send)
        except BodyTooLarge:
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        exc = BodyTooLarge(self.max_bytes)
        response = JSONResponse({"detail": exc.detail, "code": "body_too_large"}, status_code=413)
        await response(scope, receive, send)


class BodyTooLarge(StarletteHTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body too large (limit {limit} bytes).")


def throttled(wait: float) -> ApiError:
    """429 for a request over its rate limit, in Attendee's words, with when to come back."""
    seconds = retry_after_seconds(wait)
    return ApiError(
        429,
        {"detail": f"Request was throttled. Expected available in {seconds} seconds.", "code": "throttled"},
        headers={"Retry-After": str(seconds)},
    )
