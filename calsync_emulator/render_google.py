"""Google Calendar v3 JSON for calendars and events (reference B.1, B.2)."""

from __future__ import annotations

import hashlib
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import quote

from calsync_emulator.model import Account, Calendar, Event, EventKind, Instance
from calsync_emulator.timeutil import TimeValue, fmt_google_datetime, fmt_google_timestamp, zone
from calsync_emulator.views import Row


def etag(*parts: object) -> str:
    digest = hashlib.sha1("/".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()
    return f'"{int(digest[:15], 16)}"'


def calendar_resource(cal: Calendar) -> dict[str, Any]:
    return {
        "kind": "calendar#calendar",
        "etag": etag(cal.id, cal.name),
        "id": cal.id,
        "summary": cal.name,
        "timeZone": cal.time_zone,
        "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
    }


def calendar_list_entry(cal: Calendar) -> dict[str, Any]:
    entry = {
        "kind": "calendar#calendarListEntry",
        "etag": etag(cal.id, cal.name, "list"),
        "id": cal.id,
        "summary": cal.name,
        "timeZone": cal.time_zone,
        "colorId": "14",
        "backgroundColor": cal.color,
        "foregroundColor": "#000000",
        "selected": True,
        "accessRole": "owner",
        "defaultReminders": [{"method": "popup", "minutes": 10}],
        "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
    }
    if cal.primary:
        entry["primary"] = True
        entry["notificationSettings"] = {"notifications": [{"type": "eventCreation", "method": "email"}]}
    return entry


def _time(value: TimeValue, event_tz: str, out_tz: tzinfo) -> dict[str, str]:
    if isinstance(value, datetime):
        return {"dateTime": fmt_google_datetime(value, out_tz), "timeZone": event_tz}
    return {"date": value.isoformat()}


def _conference(url: str) -> dict[str, Any]:
    if "meet.google.com/" in url:
        code = url.rstrip("/").rsplit("/", 1)[-1]
        solution = {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"}
        return {
            "entryPoints": [{"entryPointType": "video", "uri": url, "label": url.split("://", 1)[-1]}],
            "conferenceSolution": solution,
            "conferenceId": code,
        }
    return {
        "entryPoints": [{"entryPointType": "video", "uri": url, "label": url.split("://", 1)[-1]}],
        "conferenceSolution": {"key": {"type": "addOn"}, "name": "Video call"},
        "conferenceId": hashlib.md5(url.encode(), usedforsecurity=False).hexdigest()[:10],
    }


def _stub(event: Event, out_tz: tzinfo) -> dict[str, Any]:
    """Deleted items: id only; a cancelled instance of a live series also carries its series and slot."""
    body: dict[str, Any] = {
        "kind": "calendar#event",
        "etag": etag(event.id, event.seq),
        "id": event.id,
        "status": "cancelled",
    }
    if event.kind in (EventKind.OVERRIDE, EventKind.GONE) and event.master_id and event.original_start is not None:
        body["recurringEventId"] = event.master_id
        body["originalStartTime"] = _time(event.original_start, event.time_zone, out_tz)
    return body


def event_resource(account: Account, row: Row, out_tz_name: str | None, cal: Calendar) -> dict[str, Any]:
    out_tz = zone(out_tz_name or cal.time_zone)
    if isinstance(row, Event) and row.deleted:
        return _stub(row, out_tz)
    source = row.master if isinstance(row, Instance) else row
    body: dict[str, Any] = {
        "kind": "calendar#event",
        "etag": etag(row.id, source.seq),
        "id": row.id,
        "status": source.status,
        "htmlLink": f"https://www.google.com/calendar/event?eid={quote(row.id)}",
        "created": fmt_google_timestamp(source.created),
        "updated": fmt_google_timestamp(source.updated),
        "summary": source.summary,
        "creator": {"email": account.email, "self": True},
        "organizer": {
            "email": source.organizer_email or account.email,
            "self": source.organizer_email in ("", account.email),
        },
        "start": _time(row.start, source.time_zone, out_tz),
        "end": _time(row.end, source.time_zone, out_tz),
        "iCalUID": source.uid,
        "sequence": source.sequence,
        "reminders": {"useDefault": True},
        "eventType": "default",
    }
    if source.organizer_name:
        body["organizer"]["displayName"] = source.organizer_name
    if source.description:
        body["description"] = source.description
    if source.location:
        body["location"] = source.location
    if source.show_as == "free":
        body["transparency"] = "transparent"
    if source.attendees:
        body["attendees"] = [
            {
                "email": a.email,
                **({"displayName": a.name} if a.name else {}),
                "responseStatus": a.response,
                **({"optional": True} if a.optional else {}),
                **({"self": True} if a.email == account.email else {}),
                **({"organizer": True} if a.email == body["organizer"]["email"] else {}),
            }
            for a in source.attendees
        ]
    if source.meeting_url:
        body["conferenceData"] = _conference(source.meeting_url)
        if "meet.google.com/" in source.meeting_url:
            body["hangoutLink"] = source.meeting_url
    if isinstance(row, Instance):
        body["recurringEventId"] = row.master.id
        body["originalStartTime"] = _time(row.start, source.time_zone, out_tz)
    elif row.kind is EventKind.OVERRIDE and row.master_id and row.original_start is not None:
        body["recurringEventId"] = row.master_id
        body["originalStartTime"] = _time(row.original_start, row.time_zone, out_tz)
    elif row.kind is EventKind.MASTER:
        body["recurrence"] = list(row.recurrence)
    return body
