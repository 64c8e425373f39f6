"""Classify Microsoft identity platform and Graph failures into `ErrorKind`s (docs/providers.md has the table).

Only structured fields are read: the token endpoint's `error`, `error_codes` and `suberror`; Graph's `error.code`
(and nested `innerError.code`), matched case-insensitively; and the HTTP status. `error_description` and
`message` text is never matched, as Microsoft warns it changes; it only goes, shortened, into the message.
"""

from __future__ import annotations

from typing import Any

import httpx

from calsync.clock import Clock
from calsync.providers.base import ErrorKind, ProviderError
from calsync.providers.http import Classifier, api_error, as_str, detail, json_object, kind_by_status, retry_after_of

# --- Token endpoint ------------------------------------------------------------------------------------------------

# AADSTS codes whose meaning is more specific than the `error` they travel with. Checked first, because e.g. an app
# that is not multi-tenant but calls /common comes back as a generic `invalid_request`.
_AADSTS_KINDS: dict[int, ErrorKind] = {
    7000215: ErrorKind.APP_CREDENTIALS,  # invalid client secret
    7000222: ErrorKind.APP_CREDENTIALS,  # client secret expired
    7000218: ErrorKind.APP_CREDENTIALS,  # client_secret missing
    700016: ErrorKind.APP_CREDENTIALS,  # application not found in the tenant
    50194: ErrorKind.APP_CREDENTIALS,  # app is not multi-tenant but called /common
    70011: ErrorKind.SCOPE_MISSING,  # invalid scope
    90055: ErrorKind.THROTTLED,  # tenant throttling
    50196: ErrorKind.THROTTLED,  # loop detected: slow down
    90006: ErrorKind.TRANSIENT,
    90024: ErrorKind.TRANSIENT,
    90033: ErrorKind.TRANSIENT,
}

_OAUTH_ERRORS: dict[str, ErrorKind] = {
    # Grant dead (70000, 700082, 70008, 50173, ...) or policy demands an interactive step (MFA, Conditional Access,
    # consent): for a non-interactive service both mean "the user must reconnect".
    "invalid_grant": ErrorKind.GRANT_REVOKED,
    "interaction_required": ErrorKind.GRANT_REVOKED,
    "consent_required": ErrorKind.GRANT_REVOKED,
    "access_denied": ErrorKind.GRANT_REVOKED,
    "invalid_client": ErrorKind.APP_CREDENTIALS,
    "unauthorized_client": ErrorKind.APP_CREDENTIALS,
    "invalid_scope": ErrorKind.SCOPE_MISSING,
    "invalid_request": ErrorKind.INVALID_REQUEST,
    "unsupported_grant_type": ErrorKind.INVALID_REQUEST,
    "invalid_resource": ErrorKind.INVALID_REQUEST,
    "temporarily_unavailable": ErrorKind.TRANSIENT,
    "server_error": ErrorKind.TRANSIENT,
}

_OAUTH_MESSAGES: dict[ErrorKind, str] = {
    ErrorKind.GRANT_REVOKED: "the refresh token was revoked or expired, or the user must sign in again",
    ErrorKind.APP_CREDENTIALS: "the application's client id/secret was rejected",
    ErrorKind.SCOPE_MISSING: "the grant does not include the requested scope",
    ErrorKind.INVALID_REQUEST: "the token request was rejected as malformed",
    ErrorKind.TRANSIENT: "the token endpoint failed temporarily",
    ErrorKind.THROTTLED: "the token endpoint is throttling this tenant or client",
}


def _error_codes(body: dict[str, Any]) -> list[int]:
    codes = body.get("error_codes")
    if not isinstance(codes, list):
        return []
    return [c for c in codes if isinstance(c, int) and not isinstance(c, bool)]


def classify_oauth_error(response: httpx.Response, clock: Clock) -> ProviderError:
    status = response.status_code
    body = json_object(response) or {}
    error = as_str(body.get("error"))
    suberror = as_str(body.get("suberror"))
    codes = _error_codes(body)
    kind = next((_AADSTS_KINDS[c] for c in codes if c in _AADSTS_KINDS), None)
    if kind is None:
        kind = _OAUTH_ERRORS.get(error or "") or kind_by_status(status, unknown=ErrorKind.INVALID_REQUEST)
    # The AADSTS number is the most precise machine reason; fall back to the OAuth `error`.
    code = f"AADSTS{codes[0]}" if codes else error
    extra = ", ".join(x for x in (error if codes else None, f"suberror {suberror}" if suberror else None) if x)
    description = detail(as_str(body.get("error_description")))
    # AADSTS descriptions carry trace/correlation ids after the first sentence; keep just the first line.
    description = description.split(" Trace ID:")[0]
    message = _OAUTH_MESSAGES.get(kind, "unexpected reply")
    message += f" (HTTP {status}{', ' + code if code else ''}{', ' + extra if extra else ''}"
    message += f": {description})" if description else ")"
    return ProviderError(kind, message, code=code, status=status, retry_after=retry_after_of(response, clock))


# --- Graph ---------------------------------------------------------------------------------------------------------

# Codes are compared lower-cased: Graph mixes `syncStateNotFound` (documented) and `SyncStateNotFound` (observed).
_SYNC_STATE_CODES = frozenset({"syncstatenotfound", "syncstateinvalid", "resyncrequired"})
_THROTTLE_CODES = frozenset(
    {
        "applicationthrottled",
        "toomanyrequests",
        "activitylimitreached",
        "quotalimitreached",
        "errortoomanyobjectsopened",
    }
)
_MAILBOX_CODES = frozenset(
    {
        "mailboxnotenabledforrestapi",  # no Exchange Online mailbox / license, guest user, on-premises
        "mailboxnotsupportedforrestapi",
        "errornonexistentmailbox",
        "extensionerror",  # mailbox on-premises or blocked by application policy
        "erroraccountsuspend",
    }
)
_SCOPE_CODES = frozenset({"erroraccessdenied", "accessdenied", "authorization_requestdenied"})
_NOT_FOUND_CODES = frozenset({"erroritemnotfound", "itemnotfound", "resourcenotfound", "errorinvalididmalformed"})
_TRANSIENT_CODES = frozenset(
    {"servicenotavailable", "generalexception", "errorinternalservererror", "errorserverbusy", "errortimeoutexpired"}
)

_GRAPH_MESSAGES: dict[ErrorKind, str] = {
    ErrorKind.SYNC_TOKEN_EXPIRED: "the delta token is no longer valid, a full sync is required",
    ErrorKind.THROTTLED: "throttled by Microsoft Graph",
    ErrorKind.MAILBOX_UNAVAILABLE: "the account has no Exchange Online mailbox usable through the REST API",
    ErrorKind.SCOPE_MISSING: "access denied: the grant lacks calendar permission or consent",
    ErrorKind.CALENDAR_GONE: "the calendar does not exist or is not accessible",
    ErrorKind.NOT_FOUND: "not found",
    ErrorKind.TRANSIENT: "Microsoft Graph failed temporarily",
    ErrorKind.INVALID_REQUEST: "Microsoft Graph rejected the request",
}


def _graph_codes(error: dict[str, Any]) -> list[str]:
    """`error.code`, then the codes of nested `innerError`s (bounded: the nesting depth is not ours to trust)."""
    codes: list[str] = []
    node: Any = error
    for _ in range(5):
        if not isinstance(node, dict):
            break
        if code := as_str(node.get("code")):
            codes.append(code)
        node = node.get("innerError", node.get("innererror"))
    return codes


def graph_classifier(*, not_found: ErrorKind, gone: ErrorKind = ErrorKind.NOT_FOUND) -> Classifier:
    """A classifier for one kind of call: `not_found` is what a 404 / malformed id means there, `gone` what a bare
    410 means (an expired delta token for a listing)."""

    def classify(response: httpx.Response, clock: Clock) -> ProviderError:
        status = response.status_code
        body = json_object(response) or {}
        error = body.get("error")
        error = error if isinstance(error, dict) else {}
        codes = _graph_codes(error)
        lowered = {c.lower() for c in codes}
        code = codes[0] if codes else None
        kind: ErrorKind
        if lowered & _SYNC_STATE_CODES:
            kind = ErrorKind.SYNC_TOKEN_EXPIRED
        elif status == 410:
            kind = gone
        elif status == 429 or lowered & _THROTTLE_CODES:
            kind = ErrorKind.THROTTLED
        elif lowered & _MAILBOX_CODES:
            kind = ErrorKind.MAILBOX_UNAVAILABLE
        elif status == 401:
            # Access token rejected (`InvalidAuthenticationToken`): the caller drops its cached token (status 401) and
            # refreshes; a dead grant then surfaces as GRANT_REVOKED from the token endpoint.
            kind = ErrorKind.TRANSIENT
        elif status == 403 and lowered & _SCOPE_CODES:
            kind = ErrorKind.SCOPE_MISSING
        elif status == 404 or lowered & _NOT_FOUND_CODES:
            kind = not_found
        elif lowered & _TRANSIENT_CODES:
            kind = ErrorKind.TRANSIENT
        else:
            kind = kind_by_status(status, unknown=ErrorKind.INVALID_REQUEST)
        return api_error(
            kind,
            _GRAPH_MESSAGES.get(kind, "unexpected reply"),
            status=status,
            code=code,
            platform_text=as_str(error.get("message")),
            response=response,
            clock=clock,
        )

    return classify


# Listings of one calendar: 404 / malformed id means the configured calendar is gone.
LIST_CLASSIFIER = graph_classifier(not_found=ErrorKind.CALENDAR_GONE, gone=ErrorKind.SYNC_TOKEN_EXPIRED)
# Calls about the whole calendar that are not listings (creating a subscription on it).
CALENDAR_CLASSIFIER = graph_classifier(not_found=ErrorKind.CALENDAR_GONE)
# One event or one subscription.
ITEM_CLASSIFIER = graph_classifier(not_found=ErrorKind.NOT_FOUND)
# Account-level calls (the list of calendars).
ACCOUNT_CLASSIFIER = graph_classifier(not_found=ErrorKind.INVALID_REQUEST)
