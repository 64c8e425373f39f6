"""The request bodies of the control API (control.py), validated by pydantic: a bad body is a 422 before any change."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from calsync_emulator.faults import FaultKind


class CalendarIn(BaseModel):
    name: str
    time_zone: str | None = None
    id: str | None = None


class AccountIn(BaseModel):
    platform: Literal["google", "microsoft"]
    id: str | None = None
    email: str | None = None
    display_name: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    refresh_token: str | None = None
    time_zone: str = "UTC"
    calendars: list[CalendarIn] = Field(default_factory=list)


class AccountPatch(BaseModel):
    calendar_access: bool | None = None
    mailbox_enabled: bool | None = None


class AttendeeIn(BaseModel):
    email: str
    name: str = ""
    response: Literal["needsAction", "accepted", "declined", "tentative"] = "needsAction"
    optional: bool = False


class EventIn(BaseModel):
    start: str  # YYYY-MM-DD (all-day) or ISO date-time (naive = wall time in time_zone)
    end: str
    time_zone: str | None = None
    id: str | None = None
    summary: str = ""
    description: str = ""
    location: str = ""
    status: Literal["confirmed", "tentative"] = "confirmed"
    recurrence: list[str] = Field(default_factory=list)  # RRULE/EXDATE/RDATE lines
    attendees: list[AttendeeIn] = Field(default_factory=list)
    organizer_email: str | None = None
    organizer_name: str = ""
    meeting_url: str | None = None
    show_as: Literal["free", "tentative", "busy", "oof", "workingElsewhere"] = "busy"
    # The same iCalendar UID on several calendars: one meeting as each invitee's calendar shows it.
    ical_uid: str | None = None


class EventPatch(BaseModel):
    start: str | None = None
    end: str | None = None
    time_zone: str | None = None
    summary: str | None = None
    description: str | None = None
    location: str | None = None
    status: Literal["confirmed", "tentative"] | None = None
    recurrence: list[str] | None = None
    attendees: list[AttendeeIn] | None = None
    organizer_email: str | None = None
    organizer_name: str | None = None
    meeting_url: str | None = None
    show_as: Literal["free", "tentative", "busy", "oof", "workingElsewhere"] | None = None


class MoveIn(BaseModel):
    to_calendar_id: str


class RevokeIn(BaseModel):
    reason: str = "revoked"
    keep_access_tokens: bool = False


class ExpireSyncIn(BaseModel):
    calendar_id: str | None = None


class FaultIn(BaseModel):
    kind: FaultKind
    platform: Literal["google", "microsoft"] | None = None
    account_id: str | None = None
    path_contains: str | None = None
    count: int | None = Field(default=None, ge=1)
    fraction: float | None = Field(default=None, ge=0.0, le=1.0)
    retry_after: int | None = Field(default=None, ge=0)
    latency_ms: int = Field(default=0, ge=0, le=60000)


class SeedIn(BaseModel):
    seed: int = 0
    google_accounts: int = Field(default=0, ge=0, le=100000)
    microsoft_accounts: int = Field(default=0, ge=0, le=100000)
    calendars_per_account: int = Field(default=1, ge=1, le=50)
    events_per_calendar: int = Field(default=200, ge=0, le=100000)
    recurring_per_calendar: int = Field(default=5, ge=0)
    start: date | None = None
    days: int = Field(default=35, ge=1, le=3650)
    time_zone: str = "UTC"
    lazy: bool = True
    distinct_accounts: int = Field(default=0, ge=0)


class AdvanceIn(BaseModel):
    seconds: float = Field(ge=0)


class LifecycleIn(BaseModel):
    event: Literal["reauthorizationRequired", "subscriptionRemoved", "missed"]


class PushCopy(BaseModel):
    calendar_id: str  # whose live channels / subscriptions are copied
    to_calendar_id: str
    id: str  # the copy's channel or subscription id


class PushCopyIn(BaseModel):
    copies: list[PushCopy] = Field(max_length=10000)
