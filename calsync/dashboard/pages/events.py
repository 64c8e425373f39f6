"""One event: every normalized field, attendees with their RSVP, the meeting link and where it was found, its
bots and its meeting (extensions), and the platform's raw payload folded away."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from calsync.dashboard import queries
from calsync.dashboard.session import Operator
from calsync.dashboard.web import not_found, panel_context, render, signed_in, state_of
from calsync.providers import google_normalize, microsoft_normalize
from calsync.providers.meeting_urls import find_meeting_url

router = APIRouter()

_SOURCES = {"google": google_normalize.meeting_link_sources, "microsoft": microsoft_normalize.meeting_link_sources}


def meeting_source(platform: str, raw: Any, meeting_url: str | None) -> str | None:
    """The payload field the event's meeting link was taken from, found as the normalizer finds it: the first
    field, in the normalizer's priority order, whose text holds that link. None when the stored payload does not
    show it (a payload is stored shortened when very large)."""
    sources = _SOURCES.get(platform)
    if not meeting_url or sources is None or not isinstance(raw, dict):
        return None
    for field, text in sources(raw):
        if isinstance(text, str) and text:
            link = find_meeting_url(text)
            if link is not None and link.url == meeting_url:
                return field
    return None


@router.get("/events/{object_id}")
async def event_page(request: Request, object_id: str, operator: Annotated[Operator, Depends(signed_in)]) -> Response:
    state = state_of(request)
    async with state.context.db.read() as session:
        found = await queries.event_with_calendar(session, operator.project_id, object_id)
        if found is None:
            raise not_found("Event")
        event, calendar = found
        context = panel_context(request, operator)
        badges = await state.extensions.event_badges(session, context, [event.id])
        panels = await state.extensions.event_panels(session, context, event)
    attendees = event.attendees if isinstance(event.attendees, list) else []
    return render(
        request,
        "event.html",
        title=event.name or event.object_id,
        now=state.context.clock(),
        event=event,
        calendar=calendar,
        attendees=[a for a in attendees if isinstance(a, dict)],
        organizer=event.organizer if isinstance(event.organizer, dict) else None,
        meeting_source=meeting_source(calendar.platform, event.raw, event.meeting_url),
        badges=badges.get(event.id, []),
        show_badges=state.extensions.has_event_badges,
        panels=panels,
        raw_json=json.dumps(event.raw, indent=2, ensure_ascii=False, sort_keys=True) if event.raw is not None else None,
    )
