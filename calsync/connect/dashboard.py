"""The dashboard's "Connect" page (an extension, calsync.dashboard.extensions): the project's OAuth apps (client ids,
never secrets), the redirect URIs to register with each platform, and the return URLs, with forms to change them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.connect import admin
from calsync.connect import settings_store as store
from calsync.dashboard.extensions import EventBadge, NavLink, PanelContext
from calsync.dashboard.session import Operator
from calsync.dashboard.web import DashboardError, checked_form, redirect, render, signed_in, state_of
from calsync.store.models import Calendar, CalendarEvent

router = APIRouter()
NOTICES = {"saved": "The connect settings are saved."}


@router.get("/connect")
async def connect_page(request: Request, operator: Annotated[Operator, Depends(signed_in)]) -> Response:
    context = state_of(request).context
    async with context.db.read() as session:
        settings = store.settings_json(await store.load(session, operator.project_id), context.settings)
    return render(
        request,
        "connect_settings.html",
        title="Connect",
        settings=settings,
        platforms=store.PLATFORMS,
        saved=NOTICES.get(request.query_params.get("saved", "")),
    )


@router.post("/connect/app")
async def set_app(request: Request, operator: Annotated[Operator, Depends(signed_in)]) -> Response:
    form = await checked_form(request, operator)
    platform = form.get("platform", "")
    if platform not in store.PLATFORMS:
        raise DashboardError(400, "Unknown platform", "The platform is google or microsoft.")
    if form.get("remove"):
        value: tuple[str, str] | bool = False
    else:
        client_id, secret = form.get("client_id", "").strip(), form.get("client_secret", "").strip()
        if not client_id or not secret or len(client_id) > 255 or len(secret) > 8192:
            raise DashboardError(400, "Incomplete app", "Enter the client id and the client secret.")
        value = (client_id, secret)
    await admin.change(state_of(request).context, operator.project_object_id, apps={platform: value})
    return redirect(request, "/connect", saved="saved")


@router.post("/connect/return_urls")
async def set_return_urls(request: Request, operator: Annotated[Operator, Depends(signed_in)]) -> Response:
    form = await checked_form(request, operator)
    try:
        await admin.change(
            state_of(request).context,
            operator.project_object_id,
            return_urls=form.get("return_urls", "").splitlines(),
        )
    except admin.AdminError as exc:
        raise DashboardError(400, "Return URLs refused", str(exc)) from None
    return redirect(request, "/connect", saved="saved")


class ConnectExtension:
    name = "connect"

    def nav_links(self) -> Sequence[NavLink]:
        return [NavLink("Connect", "/connect")]

    def router(self) -> APIRouter:
        return router

    async def overview_panel(self, session: AsyncSession, context: PanelContext) -> Markup | None:
        return None

    async def event_badges(
        self, session: AsyncSession, context: PanelContext, event_ids: Sequence[int]
    ) -> dict[int, list[EventBadge]]:
        return {}

    async def calendar_panel(self, session: AsyncSession, context: PanelContext, calendar: Calendar) -> Markup | None:
        return None

    async def event_panel(self, session: AsyncSession, context: PanelContext, event: CalendarEvent) -> Markup | None:
        return None
