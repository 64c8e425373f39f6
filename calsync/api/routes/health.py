"""Liveness and readiness for load balancers and orchestrators, and Prometheus metrics."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import structlog
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.api.dependencies import Context
from calsync.api.schemas import HealthStatus, NotReady, ReadyStatus
from calsync.context import AppContext
from calsync.json_response import JSONResponse
from calsync.store.queries.health import service_gauges

router = APIRouter(tags=["Health"])
log = structlog.get_logger(__name__)

# Read from the database at scrape time (calsync.store.queries.health), so every api process reports the service.
CALENDARS = Gauge("calsync_calendars", "Calendars by platform and state", ["platform", "state"])
CALENDARS_PUSH = Gauge("calsync_calendars_push", "Calendars by push channel state (active, failing, none)", ["state"])
LIVE_CHANNELS = Gauge("calsync_push_channels", "Push channels not yet expired, by platform", ["platform"])
OVERDUE = Gauge("calsync_calendars_overdue", "Calendars due for a sync for more than a minute (worker backlog)")
WEBHOOKS_QUEUED = Gauge("calsync_webhook_outbox_queued", "Webhook deliveries pending or being delivered")
WEBHOOK_AGE = Gauge(
    "calsync_webhook_outbox_oldest_due_seconds", "How long the oldest due webhook delivery has been waiting"
)
SCRAPE_BUDGET_SECONDS = 5.0

# A feature's gauges, refreshed in the scrape's read transaction (registered in the composition root).
ScrapeGauges = Callable[[AsyncSession, datetime], Awaitable[None]]


@router.get("/health", operation_id="Health", summary="The process is up", response_model=HealthStatus)
async def health() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get(
    "/ready",
    operation_id="Ready",
    summary="The database is reachable",
    response_model=ReadyStatus,
    responses={503: {"description": "The database is not", "model": NotReady}},
)
async def ready(context: Context) -> JSONResponse:
    try:
        await context.db.ping()
    except Exception as exc:  # any database failure means "not ready", with the reason's class only
        return JSONResponse({"status": "unavailable", "database": type(exc).__name__}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/metrics", summary="Prometheus metrics of this process", include_in_schema=False)
async def metrics(request: Request, context: Context) -> Response:
    token = context.settings.metrics_token
    if token:
        presented = request.headers.get("authorization", "").removeprefix("Bearer ").encode()
        if not hmac.compare_digest(presented, token.encode()):
            return JSONResponse({"detail": "Metrics need the bearer token.", "code": "unauthorized"}, status_code=401)
    await _refresh_service_gauges(context, request.app.state.scrape_gauges)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def _refresh_service_gauges(context: AppContext, feature_gauges: Sequence[ScrapeGauges]) -> None:
    """Best effort: a scrape while the database is away still returns the process's own metrics."""
    try:
        async with asyncio.timeout(SCRAPE_BUDGET_SECONDS), context.db.read() as session:
            now = context.clock()
            gauges = await service_gauges(session, now)
            for refresh in feature_gauges:
                await refresh(session, now)
    except Exception as exc:
        log.warning("metrics_gauges_unavailable", error=type(exc).__name__)
        return
    CALENDARS.clear()
    for (platform, state), count in gauges.calendars.items():
        CALENDARS.labels(platform, state).set(count)
    CALENDARS_PUSH.clear()
    for state, count in gauges.push_states.items():
        CALENDARS_PUSH.labels(state).set(count)
    LIVE_CHANNELS.clear()
    for platform, count in gauges.live_channels.items():
        LIVE_CHANNELS.labels(platform).set(count)
    OVERDUE.set(gauges.overdue_calendars)
    WEBHOOKS_QUEUED.set(gauges.webhooks_queued)
    WEBHOOK_AGE.set(gauges.oldest_due_webhook_seconds)
