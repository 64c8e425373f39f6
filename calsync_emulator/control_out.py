"""What the control API (control.py) answers: accounts, calendars and events as JSON, and its error shape."""

from __future__ import annotations

from typing import Any

from calsync_emulator.jsonio import JSONResponse
from calsync_emulator.model import Account, Calendar, Event
from calsync_emulator.timeutil import TimeValue, fmt_graph_timestamp


def account_out(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "platform": account.platform.value,
        "email": account.email,
        "display_name": account.display_name,
        "user_id": account.user_id,
        "client_id": account.client_id,
        "client_secret": account.client_secret,
        "refresh_token": account.refresh_token,
        "primary_calendar_id": account.primary_calendar_id,
        "calendars": [calendar_out(c) for c in account.calendars.values()],
        "grant_error": account.grant_error,
        "calendar_access": account.calendar_access,
        "mailbox_enabled": account.mailbox_enabled,
    }


def calendar_out(cal: Calendar) -> dict[str, Any]:
    return {
        "id": cal.id,
        "account_id": cal.account_id,
        "name": cal.name,
        "time_zone": cal.time_zone,
        "primary": cal.primary,
    }


def _time_out(value: TimeValue | None) -> str | None:
    return None if value is None else value.isoformat()


def event_out(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "calendar_id": event.calendar_id,
        "kind": event.kind.value,
        "start": _time_out(event.start),
        "end": _time_out(event.end),
        "time_zone": event.time_zone,
        "summary": event.summary,
        "status": event.status,
        "deleted": event.deleted,
        "ms_cancelled": event.ms_cancelled,
        "recurrence": list(event.recurrence),
        "master_id": event.master_id,
        "original_start": _time_out(event.original_start),
        "meeting_url": event.meeting_url,
        "sequence": event.sequence,
        "updated": fmt_graph_timestamp(event.updated),
    }


def control_error(status: int, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc).strip("'\"")}, status_code=status)
