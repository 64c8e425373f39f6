"""What every platform request passes before its handler: caller attribution, injected faults
(latency, throttling, server errors) rendered in the platform's own error dialect."""

from __future__ import annotations

import asyncio

from fastapi import Request

from calsync_emulator.errors import ApiError, google_error, graph_error, oauth_error
from calsync_emulator.faults import FaultKind, FaultRule
from calsync_emulator.jsonio import JSONResponse
from calsync_emulator.metrics import ACCOUNT_SCOPE_KEY
from calsync_emulator.state import EmulatorState


def emulator_state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state


async def admit(
    request: Request, state: EmulatorState, platform: str, account_id: str | None, *, token: bool = False
) -> None:
    """Attribute the request to an account and apply faults; raises ApiError for an injected failure."""
    if account_id is not None:
        request.scope[ACCOUNT_SCOPE_KEY] = account_id
    fired = state.faults.pick(platform, account_id, request.url.path)
    delay = sum(rule.latency_ms for rule in fired) / 1000
    if delay > 0:
        await asyncio.sleep(delay)
    for rule in fired:
        if rule.kind is not FaultKind.LATENCY:
            raise ApiError(render_fault(state, platform, rule, token=token))


def _retry_headers(rule: FaultRule, default: int | None) -> dict[str, str]:
    value = rule.retry_after if rule.retry_after is not None else default
    return {"Retry-After": str(value)} if value is not None else {}


def render_fault(state: EmulatorState, platform: str, rule: FaultRule, *, token: bool) -> JSONResponse:
    kind = rule.kind
    status = {
        FaultKind.THROTTLE_429: 429,
        FaultKind.APPLICATION_THROTTLED_429: 429,
        FaultKind.RATE_LIMIT_403: 403,
        FaultKind.USER_RATE_LIMIT_403: 403,
        FaultKind.QUOTA_EXCEEDED_403: 403,
        FaultKind.ERROR_500: 500,
        FaultKind.ERROR_503: 503,
        FaultKind.ERROR_504: 504,
    }[kind]
    if token:
        # Token endpoints answer in OAuth dialect; Entra's throttling code is AADSTS90055.
        if platform == "microsoft":
            status = 429 if status in (403, 429) else status
            body: dict[str, object] = {
                "error": "temporarily_unavailable",
                "error_description": "AADSTS90055: The number of requests to the tenant exceeded the limit.",
                "error_codes": [90055],
            }
        else:
            body = {
                "error": "internal_failure" if status >= 500 else "rate_limit_exceeded",
                "error_description": "Try again later.",
            }
        response = oauth_error(status, body)
        response.headers.update(_retry_headers(rule, None))
        return response
    if platform == "google":
        headers = _retry_headers(rule, None)
        if kind in (FaultKind.THROTTLE_429, FaultKind.APPLICATION_THROTTLED_429):
            return google_error(429, "rateLimitExceeded", "Rate Limit Exceeded", domain="usageLimits", headers=headers)
        if kind is FaultKind.RATE_LIMIT_403:
            return google_error(403, "rateLimitExceeded", "Rate Limit Exceeded", domain="usageLimits", headers=headers)
        if kind is FaultKind.USER_RATE_LIMIT_403:
            return google_error(
                403, "userRateLimitExceeded", "User Rate Limit Exceeded", domain="usageLimits", headers=headers
            )
        if kind is FaultKind.QUOTA_EXCEEDED_403:
            return google_error(
                403, "quotaExceeded", "Calendar usage limits exceeded.", domain="usageLimits", headers=headers
            )
        return google_error(status, "backendError", "Backend Error", headers=headers)
    now = state.now()
    if kind is FaultKind.APPLICATION_THROTTLED_429:
        return graph_error(
            429,
            "ApplicationThrottled",
            "Application is over its MailboxConcurrency limit.",
            now,
            headers=_retry_headers(rule, 10),
        )
    if status in (403, 429):
        # the documented sample nests a second status block in innerError
        extra = {"code": "429", "message": "Please retry after", "status": "429"}
        return graph_error(
            429,
            "TooManyRequests",
            "Please retry again later.",
            now,
            headers=_retry_headers(rule, 10),
            inner_extra=extra,
        )
    if status == 500:
        return graph_error(500, "generalException", "An unexpected error occurred.", now)
    return graph_error(
        status, "serviceNotAvailable", "Service is temporarily unavailable.", now, headers=_retry_headers(rule, 5)
    )
