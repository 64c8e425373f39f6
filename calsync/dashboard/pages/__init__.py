"""The dashboard's pages, one module per area."""

from __future__ import annotations

from fastapi import APIRouter

from calsync.dashboard.pages import auth, calendars, events, overview, webhooks


def routers() -> list[APIRouter]:
    return [auth.router, overview.router, calendars.router, events.router, webhooks.router]
