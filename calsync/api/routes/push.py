"""Receivers of platform push notifications (the anchor's paths). Each notification is authenticated in
constant time against the channel's secret (Google channel token, Graph clientState), then only moves the
calendar's due time: a burst becomes one sync after the debounce delay. Replies are immediate (Graph wants
an answer within 3 seconds)."""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Any

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy import select

from calsync import json_codec
from calsync.api.auth import get_context
from calsync.api.inputs import first_text_problem
from calsync.context import AppContext
from calsync.json_response import JSONResponse
from calsync.store.models import Calendar, PushChannel
from calsync.store.queries.calendars import mark_due
from calsync.store.work_signal import notify_work_in_transaction
from calsync.sync.channels import GOOGLE_PATH, MICROSOFT_LIFECYCLE_PATH, MICROSOFT_PATH, token_digest
from calsync.sync.metrics import PUSH_NOTIFICATIONS

router = APIRouter(tags=["Platform push"], include_in_schema=False)
log = structlog.get_logger(__name__)

MAX_VALIDATION_TOKEN = 1024


def _authentic(channel: PushChannel, presented: str | None) -> bool:
    # Digests of equal length compared with compare_digest: no timing signal about the secret.
    return hmac.compare_digest(channel.token_hash, token_digest(presented or ""))


async def _request_sync(
    context: AppContext, items: list[tuple[str, str | None]], *, full_resync: bool = False, reason: str = "push"
) -> tuple[int, int]:
    """Mark the calendars of authentic notifications due; returns (accepted, rejected)."""
    accepted = rejected = 0
    now = context.clock()
    due = now + timedelta(seconds=context.settings.sync_debounce_seconds)
    async with context.db.write() as session:
        ids = [channel_id for channel_id, _ in items]
        channels = {
            row.channel_id: row
            for row in (await session.execute(select(PushChannel).where(PushChannel.channel_id.in_(ids)))).scalars()
        }
        authentic: list[PushChannel] = []
        for channel_id, presented in items:
            channel = channels.get(channel_id)
            if channel is None or not _authentic(channel, presented):
                rejected += 1
                continue
            accepted += 1
            channel.last_notification_at = now
            authentic.append(channel)
        # One query for the whole batch (a Graph POST can carry many notifications), locked in id order.
        calendar_ids = sorted({channel.calendar_id for channel in authentic})
        calendars: list[Calendar] = []
        if calendar_ids:
            calendars = list(
                (
                    await session.execute(
                        select(Calendar)
                        .where(Calendar.id.in_(calendar_ids), Calendar.deleted_at.is_(None))
                        .order_by(Calendar.id)
                        .with_for_update()
                    )
                ).scalars()
            )
        for calendar in calendars:
            mark_due(calendar, reason, due)
            if full_resync:
                calendar.next_full_sync_at = now
        if accepted:
            await notify_work_in_transaction(session)
    if accepted:
        context.work_signal.kick()
    return accepted, rejected


@router.post(GOOGLE_PATH)
async def google_notification(request: Request) -> Response:
    headers = request.headers
    channel_id = headers.get("x-goog-channel-id")
    state = headers.get("x-goog-resource-state")
    if not channel_id:
        PUSH_NOTIFICATIONS.labels("google", "malformed").inc()
        return JSONResponse({"detail": "Missing X-Goog-Channel-ID"}, status_code=400)
    if state == "sync":
        # The handshake after a watch: nothing changed yet.
        return Response(status_code=200)
    accepted, _ = await _request_sync(get_context(request), [(channel_id, headers.get("x-goog-channel-token"))])
    if not accepted:
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


@router.post(MICROSOFT_PATH)
async def microsoft_notification(request: Request) -> Response:
    items = await _graph_batch(request)
    if isinstance(items, Response):
        return items
    # The whole batch is processed; one unknown subscription never drops the others (anchor weakness 16).
    pairs = [
        (str(item["subscriptionId"]), item.get("clientState") if isinstance(item.get("clientState"), str) else None)
        for item in items
        if item.get("subscriptionId")
    ]
    accepted, rejected = await _request_sync(get_context(request), pairs) if pairs else (0, 0)
    PUSH_NOTIFICATIONS.labels("microsoft", "accepted").inc(accepted)
    PUSH_NOTIFICATIONS.labels("microsoft", "rejected").inc(rejected + len(items) - len(pairs))
    if rejected:
        log.warning("push_rejected", platform="microsoft", rejected=rejected)
    return Response(status_code=202)


@router.post(MICROSOFT_LIFECYCLE_PATH)
async def microsoft_lifecycle(request: Request) -> Response:
    items = await _graph_batch(request)
    if isinstance(items, Response):
        return items
    context = get_context(request)
    for item in items:
        event = item.get("lifecycleEvent")
        subscription = item.get("subscriptionId")
        if not subscription:
            continue
        presented = item.get("clientState") if isinstance(item.get("clientState"), str) else None
        if event == "missed":
            # Notifications were lost: only a full resync can be sure to catch up.
            await _request_sync(context, [(str(subscription), presented)], full_resync=True, reason="missed")
        elif event in ("reauthorizationRequired", "subscriptionRemoved"):
            await _expire_channel(context, str(subscription), presented)
    return Response(status_code=202)


async def _expire_channel(context: AppContext, subscription_id: str, presented: str | None) -> None:
    """Make the next sync renew (reauthorize) or recreate the subscription, and run that sync soon."""
    now = context.clock()
    async with context.db.write() as session:
        channel = (
            await session.execute(select(PushChannel).where(PushChannel.channel_id == subscription_id))
        ).scalar_one_or_none()
        if channel is None or not _authentic(channel, presented):
            PUSH_NOTIFICATIONS.labels("microsoft", "rejected").inc()
            return
        channel.expires_at = min(channel.expires_at, now + timedelta(minutes=1))
        calendar = await session.get(Calendar, channel.calendar_id, with_for_update=True)
        if calendar is not None:
            mark_due(calendar, "channel_lifecycle", now)
        await notify_work_in_transaction(session)
    context.work_signal.kick()
