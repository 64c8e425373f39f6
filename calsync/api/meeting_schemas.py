"""Response and request bodies of `/api/v1/meetings` and `/api/v1/bot_rules` (docs/bots.md)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from calsync.api.schemas import RequestModel

Override = Literal["always", "never"]


class MeetingEventOut(BaseModel):
    event_id: str = Field(description="An `evt_…` id")
    calendar_id: str = Field(description="A `cal_…` id")
    response_status: str | None = Field(
        description="The calendar owner's response: accepted (also when the owner organizes), declined, tentative, "
        "needs_action; null when the owner is unknown or not among the attendees"
    )


class DecisionReasonOut(BaseModel):
    rule_id: str | None = Field(description="The rule that did not select the meeting (null: the meeting itself)")
    code: str = Field(description="Machine-readable: no_meeting_url, all_day, declined, not_external, …")


class DecisionOut(BaseModel):
    bot: bool = Field(description="Whether the meeting gets a bot")
    rule_id: str | None = Field(description="The rule that selected it (null: none, or an override)")
    override: Override | None = Field(description="The override that decided, if any (meeting or series)")
    reasons: list[DecisionReasonOut] = Field(description="Why each other rule did not select it")


class MeetingOut(BaseModel):
    id: str = Field(description="`mtg_…`")
    name: str | None
    start_time: str
    end_time: str
    meeting_url: str | None
    meeting_platform: str | None
    ical_uid: str | None
    events: list[MeetingEventOut] = Field(description="Its live member events, one per calendar copy")
    bot: dict[str, Any] | None = Field(
        description="The live bot serving it (the bot object): a rule's, or one created by hand on one of its "
        "events; or null"
    )
    bot_override: Override | None
    decision: DecisionOut
    created_at: str
    updated_at: str


class PaginatedMeetingList(BaseModel):
    next: str | None
    previous: str | None
    results: list[MeetingOut]


class BotOverrideRequest(RequestModel):
    bot_override: Override | None = Field(description="always, never, or null to let the rules decide")


class SeriesOverrideOut(BaseModel):
    calendar_id: str
    recurring_event_id: str
    bot_override: Override | None
    meetings: int = Field(description="Meetings of the series re-evaluated now (later instances as they sync)")
