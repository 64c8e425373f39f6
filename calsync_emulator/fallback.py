"""What the platforms answer where the emulator has no route (404) or not that method (405), and for
malformed requests FastAPI itself would reject (422): each platform's own error envelope, so a client
library reads a code and reason instead of FastAPI's `{"detail": ...}`. Only the platform prefixes
are covered; the control API under /_emulator keeps FastAPI's errors.

- Google Calendar API: 404 `notFound` "Not Found" (what the API answers for an unknown resource) and
  405 with the envelope; a malformed request is 400 `invalid`.
- Google OAuth: the RFC 6749 body, `invalid_request`.
- Microsoft Graph: 400 `BadRequest` "Resource not found for the segment '…'." (Graph's answer for a path
  it does not know; 404 `ErrorItemNotFound` when every segment is known, e.g. an id holding `%2F`) and 405 `BadRequest` "Specified HTTP method is not allowed for the request target.".
- Entra: a GET on the token endpoint is AADSTS900561, as Entra answers it; any other unknown path gets
  an OAuth `invalid_request` body (no AADSTS code is documented for it).
"""

from __future__ import annotations

from urllib.parse import unquote

from fastapi import Request

from calsync_emulator.errors import google_error, graph_error, graph_not_found, oauth_error
from calsync_emulator.gate import emulator_state
from calsync_emulator.jsonio import JSONResponse
from calsync_emulator.oauth import aad_error

GOOGLE_API = "/google/calendar/v3"
GRAPH = "/microsoft/graph/v1.0"
LOGIN = "/microsoft/login"

# Graph path segments followed by an id (so the id is never the segment "not found")
_ID_PARENTS = frozenset({"calendars", "events", "users", "subscriptions", "calendarGroups", "instances"})


def _graph_unknown_segment(raw_path: str, known: frozenset[str]) -> str | None:
    """The first segment Graph would not know, or None when every one is known or an id. The raw path is
    split before decoding, so an id with an encoded `/` stays one segment."""
    segments = [unquote(s) for s in raw_path[len(GRAPH) :].split("/") if s]
    previous = ""
    for segment in segments:
        if previous not in _ID_PARENTS and segment not in known:
            return segment
        previous = segment
    return None


def graph_literals(paths: list[str]) -> frozenset[str]:
    """The literal segments of the emulator's Graph routes, relative to the Graph root (the known segments)."""
    return frozenset(s for path in paths for s in path.split("/") if s and not s.startswith("{"))


def platform_error(request: Request, status: int, detail: str, known_graph: frozenset[str]) -> JSONResponse | None:
    """The platform's answer for a request no route took (404/405) or FastAPI refused (422); None
    outside the platform prefixes."""
    path = request.url.path
    if path.startswith(GOOGLE_API + "/") or path == GOOGLE_API:
        if status == 404:
            return google_error(404, "notFound", "Not Found")
        if status == 405:
            return google_error(405, "httpMethodNotAllowed", "Method Not Allowed")
        return google_error(400, "invalid", detail or "Bad Request")
    if path.startswith("/google/"):
        return oauth_error(status if status != 422 else 400, {"error": "invalid_request", "error_description": detail})
    state = emulator_state(request)
    if path.startswith(GRAPH + "/") or path == GRAPH:
        if status == 405:
            return graph_error(
                405, "BadRequest", "Specified HTTP method is not allowed for the request target.", state.now()
            )
        if status == 404:
            raw = request.scope.get("raw_path") or path.encode()
            segment = _graph_unknown_segment(raw.decode("latin-1").split("?", 1)[0], known_graph)
            if segment is None:  # a known shape that matched no route: an id with an encoded "/", say
                return graph_not_found(state.now())
            return graph_error(400, "BadRequest", f"Resource not found for the segment '{segment}'.", state.now())
        return graph_error(400, "BadRequest", detail or "Invalid request.", state.now())
    if path.startswith(LOGIN + "/"):
        if status == 405 and path.endswith("/oauth2/v2.0/token"):
            text = f"The endpoint only accepts POST, OPTIONS requests. Received a {request.method} request."
            return aad_error(state, 400, "invalid_request", 900561, text).response
        # no AADSTS code is documented for an unknown path; the body keeps the OAuth shape msal reads
        description = detail if status == 422 else f"The emulator has no Entra endpoint at {path}."
        return oauth_error(
            400 if status == 422 else status, {"error": "invalid_request", "error_description": description}
        )
    return None
