"""Response bodies of `/api/v1/bots` for the OpenAPI document: calsync.bots.payloads.bot_json, the object of the API,
of the events' `bots` and of every `bot.*` webhook's `data.bot`. Timestamps are strings in the API's one format
(calsync.api.formatting.iso), as in every other response."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from calsync.api import examples

BotState = Literal["scheduled", "dispatched", "paused", "cancelled", "failed"]


class BotStateReason(BaseModel):
    code: str = Field(description="Machine-readable reason of the last transition, e.g. cancelled_by_request")
    message: str


class BotOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [examples.BOT_RESPONSE]})

    id: str
    state: BotState
    state_reason: BotStateReason | None = Field(
        description="Why the bot reached its state; null until its first transition"
    )
    meeting_url: str
    join_at: str
    dispatch_at: str = Field(description="join_at - dispatch_lead_seconds: when the runner is told to launch it")
    calendar_event_id: str | None
    calendar_id: str | None
    bot_name: str | None
    metadata: dict[str, str] | None
    deduplication_key: str | None
    join_offset_seconds: int
    dispatch_lead_seconds: int
    dispatched_at: str | None
    created_at: str
    updated_at: str = Field(description="Strictly increasing per bot: order its webhooks by it")


class PaginatedBotList(BaseModel):
    next: str | None
    previous: str | None
    results: list[BotOut]
