"""Receivers of platform push notifications (Attendee's paths): the HTTP side of calsync.push.receiver, which
authenticates each notification and marks its calendar due. Replies come within a second and a half whatever the
database does (Graph wants one within 3 seconds): 503 with Retry-After when it cannot be reached."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from calsync import json_codec
from calsync.api.auth import get_context
from calsync.json_response import JSONResponse
from calsync.push import receiver
from calsync.push.missed import MissedNotifications
from calsync.push.receiver import Notification
from calsync.sync.channels import GOOGLE_PATH, MICROSOFT_LIFECYCLE_PATH, MICROSOFT_PATH
from calsync.sync.metrics import PUSH_NOTIFICATIONS
from calsync.web.inputs import first_text_problem

router = APIRouter(tags=["Platform push"], include_in_schema=False)
log = structlog.get_logger(__name__)

MAX_VALIDATION_TOKEN = 1024
RETRY_AFTER_SECONDS = "5"


async def _record(
    request: Request, platform: str, notifications: list[Notification], *, accepted: Response
) -> tuple[int, int] | Response:
    """Record the notifications. When syncs hold the calendar rows, keep them to record in a moment and answer
    `accepted` at once. When the database cannot be reached, keep them too and answer 503, so the platform retries
    as well (calsync.push.upkeep records what was kept as soon as the database is back)."""
    try:
        return await receiver.record(get_context(request), notifications)
    except receiver.ReceiverBusy:
        missed_notifications(request).add(notifications)
        PUSH_NOTIFICATIONS.labels(platform, "queued").inc(len(notifications))
        return accepted
    except receiver.ReceiverUnavailable as exc:
        missed_notifications(request).add(notifications)
        PUSH_NOTIFICATIONS.labels(platform, "deferred").inc(len(notifications))
        log.warning("push_deferred_database_unavailable", platform=platform, count=len(notifications), error=str(exc))
        return JSONResponse(
            {"detail": "Temporarily unavailable; retry later.", "code": "database_unavailable"},
            status_code=503,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )


def missed_notifications(request: Request) -> MissedNotifications:
    missed: MissedNotifications = request.app.state.missed_pushes
    return missed


@router.post(GOOGLE_PATH)
async def google_notification(request: Request) -> Response:
    headers = request.headers
    channel_id = headers.get("x-goog-channel-id")
    state = headers.get("x-goog-resource-state")
    if not channel_id:
        PUSH_NOTIFICATIONS.labels("google", "malformed").inc()
        return JSONResponse({"detail": "Missing X-Goog-Channel-ID"}, status_code=400)
    if state == "sync":
        # The handshake after a watch: nothing changed yet (the sync that opened the channel schedules one more
        # incremental sync itself, which covers changes made while the channel was being opened).
        return Response(status_code=200)
    notification = Notification(channel_id, headers.get("x-goog-channel-token"))
    outcome = await _record(request, "google", [notification], accepted=Response(status_code=200))
    if isinstance(outcome, Response):
        return outcome
    if not outcome[0]:
        PUSH_NOTIFICATIONS.labels("google", "rejected").inc()
        log.warning("push_rejected", platform="google", channel=channel_id[:64])
        return JSONResponse({"detail": "Unknown channel or wrong token"}, status_code=401)
    PUSH_NOTIFICATIONS.labels("google", "accepted").inc()
    return Response(status_code=200)


def _validation_echo(request: Request) -> Response | None:
    token = request.query_params.get("validationToken")
    if token is None:
        return None
    if len(token) > MAX_VALIDATION_TOKEN:
        return JSONResponse({"detail": "validationToken too long"}, status_code=400)
    return PlainTextResponse(token, status_code=200)


async def _graph_batch(request: Request) -> list[dict[str, Any]] | Response:
    """The items of a Graph POST, or the reply to send instead: the validation echo, or 400 for bad JSON."""
    echo = _validation_echo(request)
    if echo is not None:
        return echo
    try:
        body = json_codec.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return JSONResponse({"detail": "Invalid JSON"}, status_code=400)
    value = body.get("value") if isinstance(body, dict) else None
    # An item carrying text no database can take (NUL, a lone surrogate) names no channel of ours: skipped.
    return (
        [item for item in value if isinstance(item, dict) and first_text_problem(item) is None]
        if isinstance(value, list)
        else []
    )


def _client_state(item: dict[str, Any]) -> str | None:
    value = item.get("clientState")
    return value if isinstance(value, str) else None


@router.post(MICROSOFT_PATH)
async def microsoft_notification(request: Request) -> Response:
    items = await _graph_batch(request)
    if isinstance(items, Response):
        return items
    # The whole batch is processed; one unknown subscription never drops the others (Attendee drops the rest of the batch).
    notifications = [
        Notification(str(item["subscriptionId"]), _client_state(item)) for item in items if item.get("subscriptionId")
    ]
    outcome = await _record(request, "microsoft", notifications, accepted=Response(status_code=202))
    if isinstance(outcome, Response):
        return outcome
    accepted, rejected = outcome
    PUSH_NOTIFICATIONS.labels("microsoft", "accepted").inc(accepted)
    PUSH_NOTIFICATIONS.labels("microsoft", "rejected").inc(rejected + len(items) - len(notifications))
    if rejected:
        log.warning("push_rejected", platform="microsoft", rejected=rejected)
    return Response(status_code=202)


LIFECYCLE_EVENTS = ("missed", "reauthorizationRequired", "subscriptionRemoved")


@router.post(MICROSOFT_LIFECYCLE_PATH)
async def microsoft_lifecycle(request: Request) -> Response:
    """`missed`: a full resync; `reauthorizationRequired` / `subscriptionRemoved`: renew or recreate the
    subscription at once (also how a revoked Graph grant is noticed within seconds: that sync fails to refresh)."""
    items = await _graph_batch(request)
    if isinstance(items, Response):
        return items
    notifications = [
        Notification(str(item["subscriptionId"]), _client_state(item), lifecycle=str(item["lifecycleEvent"]))
        for item in items
        if item.get("subscriptionId") and item.get("lifecycleEvent") in LIFECYCLE_EVENTS
    ]
    outcome = await _record(request, "microsoft", notifications, accepted=Response(status_code=202))
    if isinstance(outcome, Response):
        return outcome
    if outcome[1]:
        PUSH_NOTIFICATIONS.labels("microsoft", "rejected").inc(outcome[1])
    return Response(status_code=202)
