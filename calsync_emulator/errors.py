"""Error bodies exactly as the platforms shape them (see the protocol reference, B.4, C.6, A.1, A.2)."""

from __future__ import annotations

import uuid
from datetime import datetime

from calsync_emulator.jsonio import JSONResponse
from calsync_emulator.timeutil import fmt_graph_timestamp

GOOGLE_401_MESSAGE = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    410: "GONE",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class ApiError(Exception):
    """Raised inside a platform route; the app turns it into the platform's response."""

    def __init__(self, response: JSONResponse) -> None:
        super().__init__(response.status_code)
        self.response = response


def google_error(
    status: int,
    reason: str,
    message: str,
    *,
    domain: str = "global",
    top_message: str | None = None,
    location: str | None = None,
    location_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    item: dict[str, str] = {"domain": domain, "reason": reason, "message": message}
    if location_type:
        item["locationType"] = location_type
    if location:
        item["location"] = location
    body = {"error": {"errors": [item], "code": status, "message": top_message or message}}
    if status in _GOOGLE_STATUS:
        body["error"]["status"] = _GOOGLE_STATUS[status]
    return JSONResponse(body, status_code=status, headers=headers)


def google_unauthorized() -> JSONResponse:
    return google_error(
        401,
        "authError",
        "Invalid Credentials",
        top_message=GOOGLE_401_MESSAGE,
        location="Authorization",
        location_type="header",
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
    )


def google_not_found() -> JSONResponse:
    return google_error(404, "notFound", "Not Found")


def google_bad_request(message: str, location: str | None = None) -> JSONResponse:
    return google_error(400, "invalid", message, location=location, location_type="parameter" if location else None)


def google_full_sync_required() -> JSONResponse:
    return google_error(
        410,
        "fullSyncRequired",
        "Sync token is no longer valid, a full sync is required.",
        domain="calendar",
        location="syncToken",
        location_type="parameter",
    )


def graph_error(
    status: int,
    code: str,
    message: str,
    now: datetime,
    *,
    headers: dict[str, str] | None = None,
    inner_extra: dict[str, str] | None = None,
) -> JSONResponse:
    request_id = str(uuid.uuid4())
    inner = {"date": fmt_graph_timestamp(now)[:19], "request-id": request_id, "client-request-id": request_id}
    inner.update(inner_extra or {})
    body = {"error": {"code": code, "message": message, "innerError": inner}}
    return JSONResponse(body, status_code=status, headers={"request-id": request_id, **(headers or {})})


def graph_unauthorized(message: str, now: datetime) -> JSONResponse:
    challenge = (
        'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
        'client_id="00000003-0000-0000-c000-000000000000"'
    )
    return graph_error(401, "InvalidAuthenticationToken", message, now, headers={"WWW-Authenticate": challenge})


def graph_not_found(now: datetime) -> JSONResponse:
    return graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.", now)


def oauth_error(status: int, body: dict[str, object]) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
