"""Classify Google OAuth and Calendar API failures into `ErrorKind`s (docs/providers.md has the table).

Only structured fields are read: the OAuth `error` / `error_subtype`, the API's `error.errors[].reason`,
`error.details[].reason`, and the HTTP status. Free text (`message`, `error_description`) is never matched;
it only goes, shortened, into the human-readable message.
"""

from __future__ import annotations

from typing import Any

import httpx

from calsync.clock import Clock
from calsync.providers.base import ErrorKind, ProviderError
from calsync.providers.http import Classifier, api_error, as_str, detail, json_object, kind_by_status, retry_after_of

# --- OAuth token endpoint (RFC 6749 §5.2 bodies) -------------------------------------------------------------------

_OAUTH_ERRORS: dict[str, ErrorKind] = {
    # The grant is dead (revoked, expired, unused for 6 months, reauth policy `invalid_rapt`): the user must reconnect.
    "invalid_grant": ErrorKind.GRANT_REVOKED,
    # An admin blocked this app's scopes: only a (re)consent after an admin change helps, same action.
    "admin_policy_enforced": ErrorKind.GRANT_REVOKED,
    "access_denied": ErrorKind.GRANT_REVOKED,
    # Our OAuth client is wrong or the refresh token belongs to another client: fixable by PATCHing credentials.
    "invalid_client": ErrorKind.APP_CREDENTIALS,
    "unauthorized_client": ErrorKind.APP_CREDENTIALS,
    "deleted_client": ErrorKind.APP_CREDENTIALS,
    "disabled_client": ErrorKind.APP_CREDENTIALS,
    "invalid_scope": ErrorKind.SCOPE_MISSING,
    "invalid_request": ErrorKind.INVALID_REQUEST,
    "unsupported_grant_type": ErrorKind.INVALID_REQUEST,
    "internal_failure": ErrorKind.TRANSIENT,
    "server_error": ErrorKind.TRANSIENT,
    "temporarily_unavailable": ErrorKind.TRANSIENT,
    "slow_down": ErrorKind.THROTTLED,
    "rate_limit_exceeded": ErrorKind.THROTTLED,
}

_OAUTH_MESSAGES: dict[ErrorKind, str] = {
    ErrorKind.GRANT_REVOKED: "the refresh token was revoked, expired, or needs the user to sign in again",
    ErrorKind.APP_CREDENTIALS: "the OAuth client id/secret was rejected or does not match the refresh token",
    ErrorKind.SCOPE_MISSING: "the grant does not include the requested scope",
    ErrorKind.INVALID_REQUEST: "the token request was rejected as malformed",
    ErrorKind.TRANSIENT: "the token endpoint failed temporarily",
    ErrorKind.THROTTLED: "the token endpoint is rate limiting this client",
}


def classify_oauth_error(response: httpx.Response, clock: Clock) -> ProviderError:
    status = response.status_code
    retry_after = retry_after_of(response, clock)
    body = json_object(response) or {}
    error = as_str(body.get("error"))
    subtype = as_str(body.get("error_subtype"))
    kind = _OAUTH_ERRORS.get(error or "")
    if kind is None:
        kind = kind_by_status(status, unknown=ErrorKind.INVALID_REQUEST)
    # `invalid_rapt` (session-control reauth) is more specific than `invalid_grant`; keep it as the code.
    code = subtype or error
    description = detail(as_str(body.get("error_description")))
    message = _OAUTH_MESSAGES.get(kind) or _STATUS_MESSAGES.get(kind, "unexpected reply")
    message = f"{message} (HTTP {status}{', ' + code if code else ''}{': ' + description if description else ''})"
    return ProviderError(kind, message, code=code, status=status, retry_after=retry_after)


# --- Calendar API (`{"error": {"code", "message", "errors": [{"domain", "reason"}], "status", "details"}}`) -------

# Quota and rate limits. Google documents 403 and 429 with these reasons as the same thing: back off, never disconnect.
_THROTTLE_REASONS = frozenset(
    {
        "rateLimitExceeded",
        "userRateLimitExceeded",
        "quotaExceeded",  # "Calendar usage limits exceeded": anti-abuse, can take hours to clear
        "dailyLimitExceeded",
        "variableTermLimitExceeded",
        "variableTermExpiredDailyExceeded",
        "RATE_LIMIT_EXCEEDED",  # `details[].reason` spelling of newer servers
    }
)
_SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})
# The Calendar API is not enabled / the project is blocked: our app's configuration, not the user's grant.
_APP_REASONS = frozenset({"accessNotConfigured", "SERVICE_DISABLED", "API_KEY_SERVICE_BLOCKED", "projectNotLinked"})
_SYNC_TOKEN_REASONS = frozenset({"fullSyncRequired", "updatedMinTooLongAgo"})

_STATUS_MESSAGES: dict[ErrorKind, str] = {
    ErrorKind.THROTTLED: "rate or quota limit exceeded",
    ErrorKind.SCOPE_MISSING: "the grant lacks the calendar scope",
    ErrorKind.APP_CREDENTIALS: "the Calendar API is not enabled for this OAuth client's project",
    ErrorKind.SYNC_TOKEN_EXPIRED: "the sync token is no longer valid, a full sync is required",
    ErrorKind.CALENDAR_GONE: "the calendar does not exist or is not accessible",
    ErrorKind.NOT_FOUND: "not found",
    ErrorKind.TRANSIENT: "the platform failed temporarily",
    ErrorKind.INVALID_REQUEST: "the platform rejected the request",
}


def _reasons(error: dict[str, Any]) -> list[str]:
    """Every machine reason in the envelope, `errors[].reason` first, then `details[].reason`."""
    reasons: list[str] = []
    for key in ("errors", "details"):
        entries = error.get(key)
        if isinstance(entries, list):
            for entry in entries:
                if isinstance(entry, dict) and (reason := as_str(entry.get("reason"))):
                    reasons.append(reason)
    return reasons


def _locations(error: dict[str, Any]) -> set[str]:
    entries = error.get("errors")
    if not isinstance(entries, list):
        return set()
    return {loc for entry in entries if isinstance(entry, dict) and (loc := as_str(entry.get("location")))}


def api_classifier(*, not_found: ErrorKind, gone: ErrorKind = ErrorKind.NOT_FOUND) -> Classifier:
    """A classifier for one kind of call. `not_found` is what a 404 means there (the calendar for a listing,
    the item for a single GET); `gone` is what a 410 means (an expired sync token for a listing)."""

    def classify(response: httpx.Response, clock: Clock) -> ProviderError:
        status = response.status_code
        body = json_object(response) or {}
        error = body.get("error")
        error = error if isinstance(error, dict) else {}
        reasons = _reasons(error)
        reason_set = set(reasons)
        kind: ErrorKind
        code: str | None = reasons[0] if reasons else as_str(error.get("status"))
        if reason_set & _THROTTLE_REASONS:
            kind = ErrorKind.THROTTLED
            code = next(r for r in reasons if r in _THROTTLE_REASONS)
        elif reason_set & _APP_REASONS:
            # Checked before the usageLimits domain: `accessNotConfigured` lives there but is not a rate limit.
            kind = ErrorKind.APP_CREDENTIALS
            code = next(r for r in reasons if r in _APP_REASONS)
        elif status == 429:
            kind = ErrorKind.THROTTLED
        elif reason_set & _SCOPE_REASONS:
            kind = ErrorKind.SCOPE_MISSING
            code = next(r for r in reasons if r in _SCOPE_REASONS)
        elif status == 410:
            # `fullSyncRequired` / `updatedMinTooLongAgo` on a listing; `deleted` on an item.
            kind = gone
        elif reason_set & _SYNC_TOKEN_REASONS or (status == 400 and "syncToken" in _locations(error)):
            # A sync token the platform cannot read is as useless as an expired one: start over with a full list.
            kind = gone
        elif status == 404:
            kind = not_found
        elif status == 401:
            # The access token was rejected (expired early, revoked, clock skew). Not a verdict on the grant: the
            # caller drops its cached access token (status 401 says so) and refreshes; a dead grant then shows up
            # as GRANT_REVOKED from the token endpoint.
            kind = ErrorKind.TRANSIENT
        else:
            kind = kind_by_status(status, unknown=ErrorKind.INVALID_REQUEST)
        return api_error(
            kind,
            _STATUS_MESSAGES.get(kind, "unexpected reply"),
            status=status,
            code=code,
            platform_text=as_str(error.get("message")),
            response=response,
            clock=clock,
        )

    return classify


# A listing of a calendar: 404 means the calendar is gone, 410 means the sync token expired.
LIST_CLASSIFIER = api_classifier(not_found=ErrorKind.CALENDAR_GONE, gone=ErrorKind.SYNC_TOKEN_EXPIRED)
# A call about the whole calendar that is not a listing (watch).
CALENDAR_CLASSIFIER = api_classifier(not_found=ErrorKind.CALENDAR_GONE)
# A call about one item (an event, a channel): 404 and 410 mean that item is gone.
ITEM_CLASSIFIER = api_classifier(not_found=ErrorKind.NOT_FOUND)
# Calls about the account (calendarList): a 404 there is not about any calendar.
ACCOUNT_CLASSIFIER = api_classifier(not_found=ErrorKind.INVALID_REQUEST)
