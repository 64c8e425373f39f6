"""Examples shown on the OpenAPI page; they match the user's specification (shared/seed)."""

from __future__ import annotations

from typing import Any

CREATE_CALENDAR_REQUEST: dict[str, Any] = {
    "client_id": "123456789-abcdefghijklmnopqrstuvwxyz.apps.googleusercontent.com",
    "client_secret": "GOCSPX-abcdefghijklmnopqrstuvwxyz",
    "refresh_token": "1//04abcdefghijklmnopqrstuvwxyz",
    "platform": "google",
    "metadata": {"tenant_id": "1234567890"},
    "deduplication_key": "user-abcd",
}

PATCH_CALENDAR_REQUEST: dict[str, Any] = {"refresh_token": "1//04newtokenafterreconsent"}

CALENDAR_RESPONSE: dict[str, Any] = {
    "id": "cal_abcdef1234567890",
    "platform": "google",
    "client_id": "123456789-abcdefghijklmnopqrstuvwxyz.apps.googleusercontent.com",
    "platform_uuid": None,
    "state": "connected",
    "metadata": {"tenant_id": "1234567890"},
    "deduplication_key": "user-abcd",
    "connection_failure_data": None,
    "created_at": "2025-01-13T10:30:00.123456Z",
    "updated_at": "2025-01-13T10:30:00.123456Z",
    "last_successful_sync_at": None,
    "last_attempted_sync_at": None,
    "last_sync_error": None,
    "next_sync_at": "2025-01-13T10:30:00.123456Z",
    "push": {"state": "none", "error": None},
    "owner_email": "ada@example.com",
}

EVENT_RESPONSE: dict[str, Any] = {
    "id": "evt_abcdef1234567890",
    "calendar_id": "cal_abcdef1234567890",
    "platform_uuid": "7kq9s0hgl2m5b8r0c1d2e3f4g5",
    "meeting_url": "https://meet.google.com/abc-defg-hij",
    "start_time": "2025-01-14T15:00:00.000000Z",
    "end_time": "2025-01-14T15:30:00.000000Z",
    "is_deleted": False,
    "attendees": [
        {
            "email": "ada@example.com",
            "name": "Ada",
            "response_status": "accepted",
            "is_organizer": True,
            "is_self": True,
        }
    ],
    "ical_uid": "7kq9s0hgl2m5b8r0c1d2e3f4g5@google.com",
    "name": "Weekly sync",
    "raw": {"id": "7kq9s0hgl2m5b8r0c1d2e3f4g5", "summary": "Weekly sync"},
    "bots": [],
    "created_at": "2025-01-13T10:30:01.000000Z",
    "updated_at": "2025-01-13T10:30:01.000000Z",
    "is_all_day": False,
    "time_zone": "Europe/Berlin",
    "status": "confirmed",
    "location": None,
    "organizer": {"email": "ada@example.com", "name": "Ada"},
    "recurring_event_id": None,
    "html_link": "https://www.google.com/calendar/event?eid=...",
    "meeting_platform": "google_meet",
    "change_seq": 1,
    "meeting_id": "mtg_abcdef1234567890",
}
