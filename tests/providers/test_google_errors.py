"""Every Google error body of the protocol reference maps to the right class (docs/providers.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from calsync.clock import FrozenClock
from calsync.providers.base import ErrorKind
from calsync.providers.google_errors import (
    ACCOUNT_CLASSIFIER,
    CALENDAR_CLASSIFIER,
    ITEM_CLASSIFIER,
    LIST_CLASSIFIER,
    classify_oauth_error,
)

CLOCK = FrozenClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


def _api_error(code: int, reason: str, message: str, domain: str = "global", **extra: Any) -> dict[str, Any]:
    return {
        "error": {
            "errors": [{"domain": domain, "reason": reason, "message": message}],
            "code": code,
            "message": message,
            **extra,
        }
    }


# --- OAuth token endpoint (reference A.1) ----------------------------------------------------------------------------

OAUTH_CASES = [
    (
        400,
        {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
        ErrorKind.GRANT_REVOKED,
        "invalid_grant",
    ),
    (400, {"error": "invalid_grant", "error_description": "Bad Request"}, ErrorKind.GRANT_REVOKED, "invalid_grant"),
    (
        400,
        {
            "error": "invalid_grant",
            "error_description": "reauth related error (invalid_rapt)",
            "error_subtype": "invalid_rapt",
        },
        ErrorKind.GRANT_REVOKED,
        "invalid_rapt",
    ),
    (
        400,
        {"error": "admin_policy_enforced", "error_description": "..."},
        ErrorKind.GRANT_REVOKED,
        "admin_policy_enforced",
    ),
    (
        401,
        {"error": "invalid_client", "error_description": "The OAuth client was not found."},
        ErrorKind.APP_CREDENTIALS,
        "invalid_client",
    ),
    (
        401,
        {"error": "invalid_client", "error_description": "Unauthorized"},
        ErrorKind.APP_CREDENTIALS,
        "invalid_client",
    ),
    (
        401,
        {"error": "unauthorized_client", "error_description": "Unauthorized"},
        ErrorKind.APP_CREDENTIALS,
        "unauthorized_client",
    ),
    (
        400,
        {"error": "unauthorized_client", "error_description": "Unauthorized"},
        ErrorKind.APP_CREDENTIALS,
        "unauthorized_client",
    ),
    (400, {"error": "deleted_client"}, ErrorKind.APP_CREDENTIALS, "deleted_client"),
    (
        400,
        {"error": "invalid_request", "error_description": "Missing required parameter: refresh_token"},
        ErrorKind.INVALID_REQUEST,
        "invalid_request",
    ),
    (400, {"error": "invalid_scope"}, ErrorKind.SCOPE_MISSING, "invalid_scope"),
    (500, {"error": "internal_failure"}, ErrorKind.TRANSIENT, "internal_failure"),
    (400, {"error": "internal_failure"}, ErrorKind.TRANSIENT, "internal_failure"),
    (503, {"error": "temporarily_unavailable"}, ErrorKind.TRANSIENT, "temporarily_unavailable"),
    (500, {"error": "server_error"}, ErrorKind.TRANSIENT, "server_error"),
    (502, None, ErrorKind.TRANSIENT, None),
    (429, None, ErrorKind.THROTTLED, None),
    (400, {"error": "something_new"}, ErrorKind.INVALID_REQUEST, "something_new"),
]


@pytest.mark.parametrize(("status", "body", "kind", "code"), OAUTH_CASES)
def test_oauth_errors(status: int, body: dict[str, Any] | None, kind: ErrorKind, code: str | None) -> None:
    response = (
        httpx.Response(status, json=body) if body is not None else httpx.Response(status, text="<html>oops</html>")
    )
    error = classify_oauth_error(response, CLOCK)
    assert (error.kind, error.code, error.status) == (kind, code, status)


def test_invalid_rapt_is_told_apart_from_revocation_but_has_the_same_action() -> None:
    revoked = classify_oauth_error(httpx.Response(400, json=OAUTH_CASES[0][1]), CLOCK)
    rapt = classify_oauth_error(httpx.Response(400, json=OAUTH_CASES[2][1]), CLOCK)
    assert revoked.kind is rapt.kind is ErrorKind.GRANT_REVOKED
    assert revoked.disconnects and rapt.disconnects
    assert (revoked.code, rapt.code) == ("invalid_grant", "invalid_rapt")


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(400, text="<!DOCTYPE html><html><body>Error 400 (Bad Request)!!1</body></html>"),
        httpx.Response(400, content=b"\xff\xfe\x00garbage"),
        httpx.Response(400, json=["invalid_grant"]),
        httpx.Response(400, json={"error": {"nested": "invalid_grant"}}),
        httpx.Response(400, json={"error": 42}),
        httpx.Response(400, text="invalid_grant"),  # the word alone, outside a structured field, means nothing
        httpx.Response(400),
    ],
)
def test_oauth_non_json_or_odd_bodies_never_crash_and_never_disconnect(response: httpx.Response) -> None:
    error = classify_oauth_error(response, CLOCK)
    assert error.kind is ErrorKind.INVALID_REQUEST
    assert not error.disconnects


def test_oauth_description_is_kept_short_and_single_line() -> None:
    body = {"error": "invalid_grant", "error_description": "line one\nline two " + "x" * 1000}
    error = classify_oauth_error(httpx.Response(400, json=body), CLOCK)
    assert "\n" not in error.message
    assert len(error.message) < 500


# --- Calendar API (reference B.3, B.4, E) ---------------------------------------------------------------------------

FULL_SYNC = {
    "error": {
        "errors": [
            {
                "domain": "calendar",
                "reason": "fullSyncRequired",
                "message": "Sync token is no longer valid, a full sync is required.",
                "locationType": "parameter",
                "location": "syncToken",
            }
        ],
        "code": 410,
        "message": "Sync token is no longer valid, a full sync is required.",
    }
}
SCOPE_INSUFFICIENT = {
    "error": {
        "code": 403,
        "message": "Request had insufficient authentication scopes.",
        "errors": [{"message": "Insufficient Permission", "domain": "global", "reason": "insufficientPermissions"}],
        "status": "PERMISSION_DENIED",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}],
    }
}

API_CASES = [
    (
        400,
        _api_error(400, "timeRangeEmpty", "The specified time range is empty.", "calendar"),
        ErrorKind.INVALID_REQUEST,
        "timeRangeEmpty",
    ),
    (
        401,
        _api_error(401, "authError", "Request had invalid authentication credentials.", status="UNAUTHENTICATED"),
        ErrorKind.TRANSIENT,
        "authError",
    ),
    (
        403,
        _api_error(403, "userRateLimitExceeded", "User Rate Limit Exceeded", "usageLimits"),
        ErrorKind.THROTTLED,
        "userRateLimitExceeded",
    ),
    (
        403,
        _api_error(403, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits"),
        ErrorKind.THROTTLED,
        "rateLimitExceeded",
    ),
    (
        403,
        _api_error(403, "quotaExceeded", "Calendar usage limits exceeded.", "usageLimits"),
        ErrorKind.THROTTLED,
        "quotaExceeded",
    ),
    # Attendee disconnected on any body containing PERMISSION_DENIED; a rate limit can carry that status.
    (
        403,
        _api_error(403, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits", status="PERMISSION_DENIED"),
        ErrorKind.THROTTLED,
        "rateLimitExceeded",
    ),
    (
        403,
        _api_error(
            403,
            "forbiddenForNonOrganizer",
            "Shared properties can only be changed by the organizer of the event.",
            "calendar",
        ),
        ErrorKind.INVALID_REQUEST,
        "forbiddenForNonOrganizer",
    ),
    (
        403,
        _api_error(403, "insufficientPermissions", "Insufficient Permission"),
        ErrorKind.SCOPE_MISSING,
        "insufficientPermissions",
    ),
    (403, SCOPE_INSUFFICIENT, ErrorKind.SCOPE_MISSING, "insufficientPermissions"),
    (
        403,
        _api_error(
            403,
            "accessNotConfigured",
            "Access Not Configured. Calendar API has not been used in project 1",
            "usageLimits",
        ),
        ErrorKind.APP_CREDENTIALS,
        "accessNotConfigured",
    ),
    (404, _api_error(404, "notFound", "Not Found"), ErrorKind.CALENDAR_GONE, "notFound"),
    (
        409,
        _api_error(409, "duplicate", "The requested identifier already exists."),
        ErrorKind.INVALID_REQUEST,
        "duplicate",
    ),
    (410, FULL_SYNC, ErrorKind.SYNC_TOKEN_EXPIRED, "fullSyncRequired"),
    (
        410,
        _api_error(
            410, "updatedMinTooLongAgo", "The requested minimum modification time lies too far in the past.", "calendar"
        ),
        ErrorKind.SYNC_TOKEN_EXPIRED,
        "updatedMinTooLongAgo",
    ),
    (410, {"error": {"code": 410, "message": "Gone", "status": "GONE"}}, ErrorKind.SYNC_TOKEN_EXPIRED, "GONE"),
    (
        400,
        {
            "error": {
                "errors": [{"reason": "invalid", "location": "syncToken", "locationType": "parameter"}],
                "code": 400,
            }
        },
        ErrorKind.SYNC_TOKEN_EXPIRED,
        "invalid",
    ),
    (412, _api_error(412, "conditionNotMet", "Precondition Failed"), ErrorKind.INVALID_REQUEST, "conditionNotMet"),
    (
        429,
        _api_error(429, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits"),
        ErrorKind.THROTTLED,
        "rateLimitExceeded",
    ),
    (500, _api_error(500, "backendError", "Backend Error"), ErrorKind.TRANSIENT, "backendError"),
    (503, None, ErrorKind.TRANSIENT, None),
    (429, None, ErrorKind.THROTTLED, None),
    (404, None, ErrorKind.CALENDAR_GONE, None),
    (400, None, ErrorKind.INVALID_REQUEST, None),
]


@pytest.mark.parametrize(("status", "body", "kind", "code"), API_CASES)
def test_listing_errors(status: int, body: dict[str, Any] | None, kind: ErrorKind, code: str | None) -> None:
    response = (
        httpx.Response(status, json=body) if body is not None else httpx.Response(status, text="<html>Bad</html>")
    )
    error = LIST_CLASSIFIER(response, CLOCK)
    assert (error.kind, error.code, error.status) == (kind, code, status)


@pytest.mark.parametrize("reason", ["rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"])
@pytest.mark.parametrize("classifier", [LIST_CLASSIFIER, CALENDAR_CLASSIFIER, ITEM_CLASSIFIER, ACCOUNT_CLASSIFIER])
def test_quota_403_never_disconnects(reason: str, classifier: Any) -> None:
    error = classifier(httpx.Response(403, json=_api_error(403, reason, "x", "usageLimits")), CLOCK)
    assert error.kind is ErrorKind.THROTTLED
    assert not error.disconnects


def test_throttled_carries_retry_after() -> None:
    response = httpx.Response(
        429,
        json=_api_error(429, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits"),
        headers={"Retry-After": "17"},
    )
    assert LIST_CLASSIFIER(response, CLOCK).retry_after == 17.0
    dated = httpx.Response(
        403,
        json=_api_error(403, "userRateLimitExceeded", "x", "usageLimits"),
        headers={"Retry-After": "Sun, 01 Mar 2026 12:02:00 GMT"},
    )
    assert LIST_CLASSIFIER(dated, CLOCK).retry_after == 120.0


def test_404_and_410_mean_the_item_for_single_item_calls() -> None:
    assert (
        ITEM_CLASSIFIER(httpx.Response(404, json=_api_error(404, "notFound", "Not Found")), CLOCK).kind
        is ErrorKind.NOT_FOUND
    )
    deleted = _api_error(410, "deleted", "Resource has been deleted")
    assert ITEM_CLASSIFIER(httpx.Response(410, json=deleted), CLOCK).kind is ErrorKind.NOT_FOUND
    assert (
        CALENDAR_CLASSIFIER(httpx.Response(404, json=_api_error(404, "notFound", "Not Found")), CLOCK).kind
        is ErrorKind.CALENDAR_GONE
    )
    assert (
        ACCOUNT_CLASSIFIER(httpx.Response(404, json=_api_error(404, "notFound", "Not Found")), CLOCK).kind
        is ErrorKind.INVALID_REQUEST
    )


def test_free_text_is_never_matched() -> None:
    # Words that would disconnect in Attendee's substring matching, but only inside `message`.
    body = {
        "error": {
            "code": 400,
            "message": "PERMISSION_DENIED invalid_grant ACCESS_TOKEN_SCOPE_INSUFFICIENT fullSyncRequired",
        }
    }
    error = LIST_CLASSIFIER(httpx.Response(400, json=body), CLOCK)
    assert error.kind is ErrorKind.INVALID_REQUEST
    assert not error.disconnects


def test_message_has_status_reason_and_platform_text() -> None:
    error = LIST_CLASSIFIER(httpx.Response(410, json=FULL_SYNC), CLOCK)
    assert "410" in error.message and "fullSyncRequired" in error.message and "full sync" in error.message
