"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from calsync.api.auth import get_context
from calsync.json_response import JSONResponse

router = APIRouter(tags=["Health"])


@router.get("/health", summary="The process is up")
async def health() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/ready", summary="The database is reachable", responses={503: {"description": "The database is not"}})
async def ready(request: Request) -> JSONResponse:
    try:
        await get_context(request).db.ping()
    except Exception as exc:  # any database failure means "not ready", with the reason's class only
        return JSONResponse({"status": "unavailable", "database": type(exc).__name__}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/metrics", summary="Prometheus metrics of this process", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
