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

CREATE_CALDAV_CALENDAR_REQUEST: dict[str, Any] = {
    "platform": "caldav",
    "server_url": "https://caldav.fastmail.com/dav/",
    "username": "ada@fastmail.com",
    "password": "abcd1234efgh5678",
}

CREATE_ICS_CALENDAR_REQUEST: dict[str, Any] = {
    "platform": "ics",
    "url": "https://calendar.google.com/calendar/ical/ada%40example.com/private-0123456789abcdef/basic.ics",
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

PLATFORM_CALENDAR_RESPONSE: dict[str, Any] = {
    "platform_uuid": "primary-calendar-id",
    "name": "Ada Lovelace",
    "is_primary": True,
    "time_zone": "Europe/Berlin",
    "can_edit": True,
    "selected": True,
}

BOT_RESPONSE: dict[str, Any] = {
    "id": "bot_abcdef1234567890",
    "state": "scheduled",
    "state_reason": None,
    "meeting_url": "https://meet.google.com/abc-defg-hij",
    "join_at": "2025-01-14T15:00:00.000000Z",
    "dispatch_at": "2025-01-14T14:58:00.000000Z",
    "calendar_event_id": "evt_abcdef1234567890",
    "calendar_id": "cal_abcdef1234567890",
    "bot_name": "Note taker",
    "metadata": {"tenant_id": "1234567890"},
    "deduplication_key": "weekly-sync-2025-01-14",
    "join_offset_seconds": 0,
    "dispatch_lead_seconds": 120,
    "dispatched_at": None,
    "created_at": "2025-01-13T10:30:02.000000Z",
    "updated_at": "2025-01-13T10:30:02.000000Z",
}

WEBHOOK_RESPONSE: dict[str, Any] = {
    "id": "whk_abcdef1234567890",
    "url": "https://hooks.example.com/calsync",
    "triggers": ["calendar.events_update", "calendar.state_change"],
    "is_active": True,
    "created_at": "2025-01-13T10:30:00.123456Z",
    "updated_at": "2025-01-13T10:30:00.123456Z",
    "health": {
        "state": "healthy",
        "failing_since": None,
        "consecutive_failures": 0,
        "last_error": None,
        "last_failure_at": None,
        "last_success_at": "2025-01-13T10:35:00.000000Z",
    },
}

WEBHOOK_SECRET_RESPONSE: dict[str, Any] = {
    "id": "wsec_abcdef1234567890",
    "fingerprint": "3f2a9c0d41be",
    "is_primary": True,
    "created_at": "2025-01-13T10:30:00.123456Z",
    "expires_at": None,
}

ISSUED_WEBHOOK_SECRET_RESPONSE: dict[str, Any] = {
    **WEBHOOK_SECRET_RESPONSE,
    "secret": "c2VjcmV0LWtleS1ieXRlcy1zaG93bi1vbmNlLW9ubHk=",
    "secret_whsec": "whsec_c2VjcmV0LWtleS1ieXRlcy1zaG93bi1vbmNlLW9ubHk=",
}

WEBHOOK_DELIVERY_RESPONSE: dict[str, Any] = {
    "id": "whd_abcdef1234567890",
    "webhook_id": "whk_abcdef1234567890",
    "idempotency_key": "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f",
    "trigger": "calendar.state_change",
    "calendar_id": "cal_abcdef1234567890",
    "bot_id": None,
    "status": "succeeded",
    "attempts": 1,
    "created_at": "2025-01-13T10:30:01.000000Z",
    "next_attempt_at": None,
    "last_attempt_at": "2025-01-13T10:30:01.250000Z",
    "last_status_code": 200,
    "last_error": None,
    "delivered_at": "2025-01-13T10:30:01.300000Z",
    "data": {
        "state": "disconnected",
        "connection_failure_data": {
            "error": "Token has been expired or revoked.",
            "code": "grant_revoked",
            "timestamp": "2025-01-13T10:30:00.900000Z",
        },
        "last_successful_sync_at": "2025-01-13T09:30:00.500000Z",
        "last_attempted_sync_at": "2025-01-13T10:30:00.900000Z",
    },
}

WEBHOOK_ATTEMPT_RESPONSE: dict[str, Any] = {
    "attempted_at": "2025-01-13T10:30:01.250000Z",
    "status_code": 200,
    "response_excerpt": "ok",
    "error": None,
    "duration_ms": 48.2,
}
