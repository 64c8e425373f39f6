"""Google's partial responses: the `fields` system parameter.

The grammar is the one Google's "partial response" guide documents for every Discovery-based API:

    fields    := selection ("," selection)*
    selection := path ["(" fields ")"]
    path      := name ("/" name)*            name: a property, or "*" for all of them

`items(id,summary)` and `items/id,items/summary` select the same thing; a selection inside an array
applies to each element; `*` selects every property at its level. Only the selected properties (and
the objects enclosing them) are returned; anything else, `nextPageToken` and `kind` included, is left
out, as on the real platform. A name the resource's schema does not have, or a malformed expression,
is a 400 (`invalidParameter`, location `fields`). The schema comes from google_schema.py (derived
from Google's discovery document), found through the response's `kind`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from calsync_emulator.errors import ApiError, google_error
from calsync_emulator.google_schema import SCHEMAS
from calsync_emulator.jsonio import JSONResponse, loads

# None: the whole value at this point; a dict: only these properties (further narrowed per entry)
Tree = dict[str, "Tree | None"]

KIND_SCHEMAS = {
    "calendar#calendar": "Calendar",
    "calendar#calendarList": "CalendarList",
    "calendar#calendarListEntry": "CalendarListEntry",
    "api#channel": "Channel",
    "calendar#colors": "Colors",
    "calendar#event": "Event",
    "calendar#events": "Events",
    "calendar#freeBusy": "FreeBusyResponse",
    "calendar#setting": "Setting",
    "calendar#settings": "Settings",
}

_TOKEN = re.compile(r"\s*([A-Za-z0-9_@.$-]+|\*|[(),/])")


class FieldsError(ValueError):
    """A `fields` value Google would reject; the message is the one the API answers with."""


def parse(expression: str) -> Tree:
    tokens = _tokenize(expression)
    tree, pos = _selections(tokens, 0, expression)
    if pos != len(tokens):
        raise FieldsError(f"Invalid field selection {expression}")
    return tree


def _tokenize(expression: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    text = expression.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise FieldsError(f"Invalid field selection {expression}")
        tokens.append(match.group(1))
        pos = match.end()
    if not tokens:
        raise FieldsError("Invalid field selection")
    return tokens


def _selections(tokens: list[str], pos: int, expression: str) -> tuple[Tree, int]:
    tree: Tree = {}
    while True:
        path: list[str] = []
        while True:
            if pos >= len(tokens) or tokens[pos] in "(),/":
                raise FieldsError(f"Invalid field selection {expression}")
            path.append(tokens[pos])
            pos += 1
            if pos < len(tokens) and tokens[pos] == "/":
                pos += 1
                continue
            break
        sub: Tree | None = None
        if pos < len(tokens) and tokens[pos] == "(":
            sub, pos = _selections(tokens, pos + 1, expression)
            if pos >= len(tokens) or tokens[pos] != ")":
                raise FieldsError(f"Invalid field selection {expression}")
            pos += 1
        _merge_path(tree, path, sub)
        if pos < len(tokens) and tokens[pos] == ",":
            pos += 1
            continue
        return tree, pos


def _merge_path(tree: Tree, path: list[str], leaf: Tree | None) -> None:
    node = tree
    for name in path[:-1]:
        child = node.get(name, {})
        if child is None:  # already selected whole
            return
        node[name] = child
        node = child
    _merge(node, path[-1], leaf)


def _merge(node: Tree, name: str, sub: Tree | None) -> None:
    if name not in node:
        node[name] = sub
        return
    current = node[name]
    if current is None or sub is None:
        node[name] = None  # whole wins over a narrower selection of the same property
        return
    for key, value in sub.items():
        _merge(current, key, value)


def validate(tree: Tree, schema: str | None) -> None:
    """Raise FieldsError for a name the schema does not define (no check where the schema is unknown)."""
    if schema is None or schema not in SCHEMAS:
        return
    props = SCHEMAS[schema]
    for name, sub in tree.items():
        if name == "*":
            continue
        if name not in props:
            raise FieldsError(f"Invalid field selection {name}")
        if sub is not None:
            _validate_kind(sub, props[name], name)


def _validate_kind(tree: Tree, kind: str, name: str) -> None:
    if kind.startswith("*"):  # a map: the names are keys, anything below is the values' schema
        for sub in tree.values():
            if sub is not None:
                _validate_kind(sub, kind[1:], name)
        return
    if not kind:
        raise FieldsError(f"Invalid field selection {name}")  # a scalar has no sub-fields
    validate(tree, kind)


def apply(tree: Tree, value: Any) -> Any:
    """The part of `value` the selection keeps; arrays are narrowed element by element."""
    if isinstance(value, list):
        return [apply(tree, item) for item in value]
    if not isinstance(value, dict) or ("*" in tree and all(sub is None for sub in tree.values())):
        return value
    out: dict[str, Any] = {}
    for name, item in value.items():
        if name in tree:
            sub = tree[name]
        elif "*" in tree:
            sub = tree["*"]
        else:
            continue
        out[name] = item if sub is None else apply(sub, item)
    return out


def partial_response(expression: str, body: Any) -> Any:
    """Parse, validate against the schema of the body's `kind`, and apply; raises FieldsError."""
    tree = parse(expression)
    kind = body.get("kind") if isinstance(body, dict) else None
    validate(tree, KIND_SCHEMAS.get(kind) if isinstance(kind, str) else None)
    return apply(tree, body)


class PartialResponseRoute(APIRoute):
    """The Google routers' route class: a 2xx JSON answer is narrowed to the request's `fields`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def narrowed(request: Request) -> Response:
            response = await handler(request)
            expression = request.query_params.get("fields")
            if expression is None or not 200 <= response.status_code < 300 or not response.body:
                return response
            try:
                body = partial_response(expression, loads(bytes(response.body)))
            except FieldsError as exc:
                raise ApiError(
                    google_error(400, "invalidParameter", str(exc), location="fields", location_type="parameter")
                ) from None
            headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}
            return JSONResponse(body, status_code=response.status_code, headers=headers)

        return narrowed
