"""Every Microsoft identity / Graph error body of the protocol reference maps to the right class."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from calsync.clock import FrozenClock
from calsync.providers.base import ErrorKind
from calsync.providers.microsoft_errors import (
    ACCOUNT_CLASSIFIER,
    CALENDAR_CLASSIFIER,
    ITEM_CLASSIFIER,
    LIST_CLASSIFIER,
    classify_oauth_error,
)

CLOCK = FrozenClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


def _aad(error: str, code: int, description: str, **extra: Any) -> dict[str, Any]:
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {description}\r\nTrace ID: 47a23f57\r\nCorrelation ID: 14bf0b94\r\nTimestamp: 2021-10-29 17:16:31Z",
        "error_codes": [code],
        "timestamp": "2021-10-29 17:16:31Z",
        "trace_id": "47a23f57-0000",
        "correlation_id": "14bf0b94-0000",
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        **extra,
    }


# --- Token endpoint (reference A.2) ---------------------------------------------------------------------------------

OAUTH_CASES = [
    (
        400,
        _aad(
            "invalid_grant",
            50173,
            "The provided grant has expired due to it being revoked, a fresh auth token is needed.",
            suberror="bad_token",
        ),
        ErrorKind.GRANT_REVOKED,
        "AADSTS50173",
    ),
    (
        400,
        _aad("invalid_grant", 70000, "The provided value for the 'refresh_token' is not valid."),
        ErrorKind.GRANT_REVOKED,
        "AADSTS70000",
    ),
    (
        400,
        _aad("invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity."),
        ErrorKind.GRANT_REVOKED,
        "AADSTS70008",
    ),
    (
        400,
        _aad("invalid_grant", 700082, "The refresh token has expired due to inactivity."),
        ErrorKind.GRANT_REVOKED,
        "AADSTS700082",
    ),
    (
        400,
        _aad("invalid_grant", 700084, "The refresh token was issued to a single page app (SPA)."),
        ErrorKind.GRANT_REVOKED,
        "AADSTS700084",
    ),
    (
        400,
        _aad(
            "invalid_grant",
            50076,
            "Due to a configuration change made by your administrator, you must use MFA.",
            suberror="basic_action",
        ),
        ErrorKind.GRANT_REVOKED,
        "AADSTS50076",
    ),
    (
        400,
        _aad("interaction_required", 50076, "you must use multi-factor authentication"),
        ErrorKind.GRANT_REVOKED,
        "AADSTS50076",
    ),
    (
        400,
        _aad("invalid_grant", 53003, "Access has been blocked by Conditional Access policies."),
        ErrorKind.GRANT_REVOKED,
        "AADSTS53003",
    ),
    (
        400,
        _aad("invalid_grant", 65001, "The user or administrator has not consented."),
        ErrorKind.GRANT_REVOKED,
        "AADSTS65001",
    ),
    (400, _aad("interaction_required", 700020, "InteractionRequired"), ErrorKind.GRANT_REVOKED, "AADSTS700020"),
    (400, _aad("consent_required", 65001, "consent"), ErrorKind.GRANT_REVOKED, "AADSTS65001"),
    (
        401,
        _aad("invalid_client", 7000215, "Invalid client secret provided."),
        ErrorKind.APP_CREDENTIALS,
        "AADSTS7000215",
    ),
    (
        401,
        _aad("invalid_client", 7000222, "The provided client secret keys are expired."),
        ErrorKind.APP_CREDENTIALS,
        "AADSTS7000222",
    ),
    (
        400,
        _aad("unauthorized_client", 700016, "Application was not found in the directory."),
        ErrorKind.APP_CREDENTIALS,
        "AADSTS700016",
    ),
    (
        401,
        _aad("invalid_client", 7000218, "The request body must contain client_secret."),
        ErrorKind.APP_CREDENTIALS,
        "AADSTS7000218",
    ),
    (
        400,
        _aad("invalid_request", 50194, "Application is not configured as a multi-tenant application."),
        ErrorKind.APP_CREDENTIALS,
        "AADSTS50194",
    ),
    (
        400,
        _aad("invalid_request", 900144, "The request body must contain grant_type."),
        ErrorKind.INVALID_REQUEST,
        "AADSTS900144",
    ),
    (400, _aad("invalid_request", 9002313, "Invalid request."), ErrorKind.INVALID_REQUEST, "AADSTS9002313"),
    (
        400,
        _aad("invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid."),
        ErrorKind.SCOPE_MISSING,
        "AADSTS70011",
    ),
    (400, _aad("invalid_request", 90055, "Tenant throttled."), ErrorKind.THROTTLED, "AADSTS90055"),
    (400, _aad("invalid_request", 50196, "Loop detected."), ErrorKind.THROTTLED, "AADSTS50196"),
    (
        503,
        _aad("temporarily_unavailable", 90033, "A transient error has occurred."),
        ErrorKind.TRANSIENT,
        "AADSTS90033",
    ),
    (400, {"error": "temporarily_unavailable"}, ErrorKind.TRANSIENT, "temporarily_unavailable"),
    (400, {"error": "invalid_grant"}, ErrorKind.GRANT_REVOKED, "invalid_grant"),
    (401, {"error": "invalid_client"}, ErrorKind.APP_CREDENTIALS, "invalid_client"),
    (400, {"error": "unsupported_grant_type"}, ErrorKind.INVALID_REQUEST, "unsupported_grant_type"),
    # Codes of odd types are ignored rather than trusted.
    (400, {"error": "invalid_grant", "error_codes": ["50173", True, None]}, ErrorKind.GRANT_REVOKED, "invalid_grant"),
]


@pytest.mark.parametrize(("status", "body", "kind", "code"), OAUTH_CASES)
def test_oauth_errors(status: int, body: dict[str, Any], kind: ErrorKind, code: str) -> None:
    error = classify_oauth_error(httpx.Response(status, json=body), CLOCK)
    assert (error.kind, error.code, error.status) == (kind, code, status)


def test_oauth_message_drops_trace_ids_and_keeps_suberror() -> None:
    error = classify_oauth_error(httpx.Response(400, json=OAUTH_CASES[0][1]), CLOCK)
    assert "Trace ID" not in error.message
    assert "bad_token" in error.message and "AADSTS50173" in error.message


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (httpx.Response(502, text="<html><body>Bad Gateway</body></html>"), ErrorKind.TRANSIENT),
        (httpx.Response(504), ErrorKind.TRANSIENT),
        (httpx.Response(429, headers={"Retry-After": "5"}), ErrorKind.THROTTLED),
        (httpx.Response(400, text="AADSTS50173 invalid_grant"), ErrorKind.INVALID_REQUEST),
        (httpx.Response(400, json=[1, 2]), ErrorKind.INVALID_REQUEST),
    ],
)
def test_oauth_odd_bodies(response: httpx.Response, kind: ErrorKind) -> None:
    error = classify_oauth_error(response, CLOCK)
    assert error.kind is kind
    assert not error.disconnects


# --- Graph (reference C.3, C.6) -------------------------------------------------------------------------------------


def _graph(code: str, message: str = "", **inner: Any) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {"request-id": "r", "date": "2026-03-01T12:00:00", **inner},
        }
    }


GRAPH_CASES = [
    (
        401,
        _graph("InvalidAuthenticationToken", "Access token has expired or is not yet valid."),
        ErrorKind.TRANSIENT,
        "InvalidAuthenticationToken",
    ),
    (
        401,
        _graph("InvalidAuthenticationToken", "CompactToken parsing failed with error code: 80049217"),
        ErrorKind.TRANSIENT,
        "InvalidAuthenticationToken",
    ),
    (
        403,
        _graph("ErrorAccessDenied", "Access is denied. Check credentials and try again."),
        ErrorKind.SCOPE_MISSING,
        "ErrorAccessDenied",
    ),
    (403, _graph("accessDenied"), ErrorKind.SCOPE_MISSING, "accessDenied"),
    (
        404,
        _graph("ErrorItemNotFound", "The specified object was not found in the store."),
        ErrorKind.CALENDAR_GONE,
        "ErrorItemNotFound",
    ),
    (
        404,
        _graph("MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise."),
        ErrorKind.MAILBOX_UNAVAILABLE,
        "MailboxNotEnabledForRESTAPI",
    ),
    (
        404,
        _graph("MailboxNotEnabledForRESTAPI", "REST API is not yet supported for this mailbox."),
        ErrorKind.MAILBOX_UNAVAILABLE,
        "MailboxNotEnabledForRESTAPI",
    ),
    (400, _graph("extensionError"), ErrorKind.MAILBOX_UNAVAILABLE, "extensionError"),
    (400, _graph("ErrorInvalidIdMalformed", "Id is malformed."), ErrorKind.CALENDAR_GONE, "ErrorInvalidIdMalformed"),
    (
        410,
        _graph("SyncStateNotFound", "The sync state generation is not found; generation=149;[highest=157]"),
        ErrorKind.SYNC_TOKEN_EXPIRED,
        "SyncStateNotFound",
    ),
    (410, _graph("syncStateNotFound"), ErrorKind.SYNC_TOKEN_EXPIRED, "syncStateNotFound"),
    (410, _graph("resyncRequired"), ErrorKind.SYNC_TOKEN_EXPIRED, "resyncRequired"),
    (400, _graph("SyncStateInvalid"), ErrorKind.SYNC_TOKEN_EXPIRED, "SyncStateInvalid"),
    (400, _graph("SYNCSTATENOTFOUND"), ErrorKind.SYNC_TOKEN_EXPIRED, "SYNCSTATENOTFOUND"),
    (410, None, ErrorKind.SYNC_TOKEN_EXPIRED, None),
    (
        429,
        _graph("ApplicationThrottled", "Application is over its MailboxConcurrency limit."),
        ErrorKind.THROTTLED,
        "ApplicationThrottled",
    ),
    (
        429,
        {
            "error": {
                "code": "TooManyRequests",
                "innerError": {
                    "code": "429",
                    "date": "2026-03-01T12:00:00",
                    "message": "Please retry after",
                    "request-id": "r",
                    "status": "429",
                },
                "message": "Please retry again later.",
            }
        },
        ErrorKind.THROTTLED,
        "TooManyRequests",
    ),
    (403, _graph("activityLimitReached"), ErrorKind.THROTTLED, "activityLimitReached"),
    (503, _graph("serviceNotAvailable"), ErrorKind.TRANSIENT, "serviceNotAvailable"),
    (504, None, ErrorKind.TRANSIENT, None),
    (500, _graph("generalException"), ErrorKind.TRANSIENT, "generalException"),
    (400, _graph("invalidRequest"), ErrorKind.INVALID_REQUEST, "invalidRequest"),
    (400, _graph("ErrorInvalidParameter"), ErrorKind.INVALID_REQUEST, "ErrorInvalidParameter"),
]


@pytest.mark.parametrize(("status", "body", "kind", "code"), GRAPH_CASES)
def test_graph_listing_errors(status: int, body: dict[str, Any] | None, kind: ErrorKind, code: str | None) -> None:
    response = httpx.Response(status, json=body) if body is not None else httpx.Response(status, text="<html/>")
    error = LIST_CLASSIFIER(response, CLOCK)
    assert (error.kind, error.code, error.status) == (kind, code, status)


def test_graph_throttle_honours_retry_after() -> None:
    response = httpx.Response(429, json=GRAPH_CASES[16][1], headers={"Retry-After": "10"})
    error = LIST_CLASSIFIER(response, CLOCK)
    assert (error.kind, error.retry_after) == (ErrorKind.THROTTLED, 10.0)
    unavailable = httpx.Response(503, json=_graph("serviceNotAvailable"), headers={"Retry-After": "3"})
    assert LIST_CLASSIFIER(unavailable, CLOCK).retry_after == 3.0


def test_graph_item_and_account_contexts() -> None:
    missing = httpx.Response(404, json=_graph("ErrorItemNotFound"))
    assert ITEM_CLASSIFIER(missing, CLOCK).kind is ErrorKind.NOT_FOUND
    assert CALENDAR_CLASSIFIER(missing, CLOCK).kind is ErrorKind.CALENDAR_GONE
    assert ACCOUNT_CLASSIFIER(missing, CLOCK).kind is ErrorKind.INVALID_REQUEST
    # A mailbox problem is about the account whatever the call.
    mailbox = httpx.Response(404, json=_graph("MailboxNotEnabledForRESTAPI"))
    assert ITEM_CLASSIFIER(mailbox, CLOCK).kind is ErrorKind.MAILBOX_UNAVAILABLE


def test_graph_nested_inner_error_code_is_read() -> None:
    body = {"error": {"code": "BadRequest", "message": "x", "innerError": {"code": "syncStateNotFound"}}}
    assert LIST_CLASSIFIER(httpx.Response(400, json=body), CLOCK).kind is ErrorKind.SYNC_TOKEN_EXPIRED


def test_graph_free_text_is_never_matched() -> None:
    body = {
        "error": {"code": "BadRequest", "message": "ErrorAccessDenied MailboxNotEnabledForRESTAPI SyncStateNotFound"}
    }
    error = LIST_CLASSIFIER(httpx.Response(400, json=body), CLOCK)
    assert error.kind is ErrorKind.INVALID_REQUEST
