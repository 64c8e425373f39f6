"""The OpenAPI document, made to say what the server does. FastAPI derives a document from the routes, but
some of what every operation shares is decided elsewhere (calsync.web.errors, .auth, .routes.common), so it is
stated here, once, for all operations:

- the error responses each operation can give, with their bodies (FastAPI's 422, which calsync never sends,
  is dropped: validation errors are Attendee's 400);
- the `Content-Type` header Attendee declares, on the operations that take a body only (without it a body is
  refused with 415), as a pattern of the media types that are parsed as JSON;
- no query or path parameter may hold NUL (calsync.api.routes.common), and none is ever null in a URL.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from calsync.web.inputs import NO_NUL_PATTERN

# `application/json` or any `application/…+json`, parameters allowed (`; charset=utf-8`): the media types FastAPI
# parses as JSON (calsync.web.errors.is_json_media_type), case-insensitively.
_CI_APPLICATION = "".join(f"[{c.upper()}{c}]" for c in "application")
_CI_JSON = "[Jj][Ss][Oo][Nn]"
JSON_MEDIA_TYPE_PATTERN = f"^[ \\t]*{_CI_APPLICATION}/(?:[^;/]*\\+)?{_CI_JSON}[ \\t]*(?:;.*)?$"

_REF = "#/components/schemas/"
ERROR_SCHEMAS: dict[str, dict[str, Any]] = {
    "FieldErrors": {
        "type": "object",
        "description": "Attendee's (DRF) field errors: each refused body field with its messages, or "
        "`non_field_errors`",
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
    },
    "ErrorMessage": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string"},
            "code": {"type": "string", "description": "Machine-readable reason"},
            "field": {"type": "string", "description": "The query or path parameter refused"},
        },
    },
    "ErrorDetail": {
        "type": "object",
        "required": ["detail"],
        "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    },
}


def _body(*names: str) -> dict[str, Any]:
    refs = [{"$ref": _REF + name} for name in names]
    return {"application/json": {"schema": refs[0] if len(refs) == 1 else {"anyOf": refs}}}


_HEADER = {"schema": {"type": "string"}, "required": True}
# Every error response an operation can give, by status: (description, body, headers).
ERRORS: dict[str, dict[str, Any]] = {
    "400": {
        "description": "Invalid input: a body field (field errors), a parameter (`error`, `code`, `field`) or a "
        "body that is not JSON (`detail`, `code`)",
        # Field errors last: any object matches their schema, so a client generator that tries the options in
        # order (openapi-python-client) would read every `{"error": …}` as field errors.
        "content": _body("ErrorMessage", "ErrorDetail", "FieldErrors"),
    },
    "401": {
        "description": "Missing, malformed or unknown API key",
        "content": _body("ErrorDetail"),
        "headers": {"WWW-Authenticate": {**_HEADER, "description": "Always `Token`"}},
    },
    "404": {"description": "Not found, or an invalid cursor", "content": _body("ErrorMessage", "ErrorDetail")},
    "409": {"description": "Conflict", "content": _body("ErrorMessage")},
    "413": {"description": "Body over CALSYNC_MAX_BODY_BYTES", "content": _body("ErrorDetail")},
    "415": {"description": "A body that is not sent as JSON", "content": _body("ErrorDetail")},
    "429": {
        "description": "Throttled",
        "content": _body("ErrorDetail", "ErrorMessage"),
        "headers": {"Retry-After": {**_HEADER, "description": "Seconds to wait"}},
    },
    "502": {"description": "The calendar platform refused or failed", "content": _body("ErrorMessage")},
    "503": {
        "description": "The database is unavailable for a moment (`code`: `database_unavailable`, with Retry-After): "
        "retry",
        "content": _body("ErrorDetail"),
    },
}


def install(app: FastAPI) -> None:
    """Serve the generated document with the shared parts stated (computed once, as FastAPI caches it)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# How every operation but the health checks authenticates, stated once so client generators send the key (the
# Attendee's spec declared `Authorization` as a required header parameter with a placeholder default instead).
SECURITY_SCHEME = "ApiKey"
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    SECURITY_SCHEME: {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`Token <api key>` (the key `calsync projects create` or `calsync api-keys create` printed)",
    }
}


def describe(document: dict[str, Any]) -> dict[str, Any]:
    document["components"] = {**document.get("components", {}), "securitySchemes": SECURITY_SCHEMES}
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas.update(ERROR_SCHEMAS)
    examples = _model_examples()
    for name, schema in schemas.items():
        if "examples" in schema and name in examples:
            schema["examples"] = examples[name]
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            _describe_operation(operation)
    return document


def _model_examples() -> dict[str, Any]:
    """The examples of calsync's models as written. FastAPI renders the document without nulls (`exclude_none`),
    examples included: `"platform_uuid": null` vanished, and the examples no longer matched their own schemas."""
    found: dict[str, Any] = {}
    pending: list[type[BaseModel]] = [BaseModel]
    while pending:
        for model in pending.pop().__subclasses__():
            pending.append(model)
            extra = model.model_config.get("json_schema_extra")
            if model.__module__.startswith("calsync.api.") and isinstance(extra, dict) and "examples" in extra:
                found[model.__name__] = extra["examples"]
    return found


def _describe_operation(operation: dict[str, Any]) -> None:
    body = operation.get("requestBody")
    parameters = []
    authenticated = False
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "header" and parameter["name"].lower() == "authorization":
            authenticated = True  # stated as the security requirement below, not as a parameter
            continue
        if parameter["in"] == "header" and parameter["name"].lower() == "content-type":
            # The request body's media type says it: a body sent as anything but JSON is refused with 415
            # (calsync.api.routes.common.require_json_media_type); a generated client sets the header itself.
            continue
        if parameter["in"] in ("query", "path"):
            parameter = {**parameter, "schema": _url_parameter_schema(parameter["schema"])}
        parameters.append(parameter)
    operation["parameters"] = parameters
    if authenticated:
        operation["security"] = [{SECURITY_SCHEME: []}]

    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    # 503: any request meets a database fault as an expected event (calsync.web.errors.CatchAllMiddleware).
    statuses = set(responses) | {"400", "503"}
    if authenticated:
        statuses.add("401")
    if any(p["in"] == "path" or p["name"] == "cursor" for p in parameters):
        statuses.add("404")
    if body is not None:
        statuses |= {"413", "415"}
    for status in sorted(statuses):
        if status in ERRORS:
            # Keep an operation's own description ("Calendar not found") and its own body where it declares one
            # (/ready's 503), add the shared body and headers.
            described = responses.get(status, {})
            kept = {k: v for k, v in described.items() if k == "description"}
            if any(media.get("schema") for media in described.get("content", {}).values()):
                kept["content"] = described["content"]
            responses[status] = {**ERRORS[status], **kept}


def _url_parameter_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter in the URL is a string or absent, never null; and never holds NUL."""
    options = schema.get("anyOf")
    if options:
        kept = [option for option in options if option.get("type") != "null"]
        if len(kept) == 1:
            schema = {**{k: v for k, v in schema.items() if k != "anyOf"}, **kept[0]}
    if schema.get("type") == "string" and "pattern" not in schema and "enum" not in schema:
        schema = {**schema, "pattern": NO_NUL_PATTERN}
    return schema
