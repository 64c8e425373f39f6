"""Rows → JSON in the anchor's field order, plus calsync's additional fields."""

from __future__ import annotations

from typing import Any

from calsync.api.formatting import iso
from calsync.store.models import Calendar


def calendar_json(calendar: Calendar) -> dict[str, Any]:
    return {
        "id": calendar.object_id,
        "platform": calendar.platform,
        "client_id": calendar.client_id,
        "platform_uuid": calendar.platform_uuid,
        "state": calendar.state,
        "metadata": calendar.metadata_,
        "deduplication_key": calendar.deduplication_key,
        "connection_failure_data": calendar.connection_failure_data,
        "created_at": iso(calendar.created_at),
        "updated_at": iso(calendar.updated_at),
        "last_successful_sync_at": iso(calendar.last_successful_sync_at),
        "last_attempted_sync_at": iso(calendar.last_attempted_sync_at),
        "last_sync_error": calendar.last_sync_error,
        "next_sync_at": iso(calendar.sync_due_at),
        "push": {"state": calendar.push_state, "error": calendar.push_error},
        "owner_email": calendar.owner_email,
    }


def event_json(event: Any, calendar_object_id: str, bots: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """`event`: a row of `calsync.store.queries.events.event_columns`. Its JSON columns may be `orjson.Fragment`s
    (stored JSON, embedded as is): render the result with `calsync.json_response.JSONResponse`. `bots`: its bots in
    every state (calsync.bots.payloads.bot_json), read for a whole page at once."""
    return {
        "id": event.object_id,
        "calendar_id": calendar_object_id,
        "platform_uuid": event.platform_uuid,
        "meeting_url": event.meeting_url,
        "start_time": iso(event.start_time),
        "end_time": iso(event.end_time),
        "is_deleted": event.is_deleted,
        "attendees": event.attendees,
        "ical_uid": event.ical_uid,
        "name": event.name,
        "raw": event.raw,
        "bots": bots or [],
        "created_at": iso(event.created_at),
        "updated_at": iso(event.updated_at),
        "is_all_day": event.is_all_day,
        "time_zone": event.time_zone,
        "status": event.status,
        "location": event.location,
        "organizer": event.organizer,
        "recurring_event_id": event.recurring_event_id,
        "html_link": event.html_link,
        "meeting_platform": event.meeting_platform,
        "change_seq": event.change_seq,
        "meeting_id": event.meeting_object_id,
    }
