"""Request bodies of `/api/v1/bots`, validated with the calendar API's field rules and Attendee's messages
(the response bodies are in calsync.api.bot_responses).

Field errors are Attendee's DRF dicts (`{"bot_name": ["…"]}`); the rules between fields and against the stored
event (Attendee's `{"error": …}` messages and ours) are checked by the route, which adds a machine-readable `code`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from calsync.api.schemas import (
    OptionalLongKey,
    OptionalMetadata,
    PatchMetadata,
    RequestModel,
    _char_field,
    _char_schema,
)
from calsync.web.datetimes import DATETIME_PATTERN, parse_query_datetime

# A join offset beyond a day either way is a mistake, not a meeting habit.
MAX_JOIN_OFFSET_SECONDS = 86_400
MAX_DISPATCH_LEAD_SECONDS = 3_600
DATETIME_FORMAT_MESSAGE = (
    "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)


def _datetime(value: Any) -> datetime:
    """DRF DateTimeField semantics: an ISO 8601 string (naive = UTC), never null."""
    if value is None:
        raise PydanticCustomError("null", "This field may not be null.")
    parsed = parse_query_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise PydanticCustomError("datetime_format", DATETIME_FORMAT_MESSAGE)
    return parsed


def _integer(low: int, high: int) -> BeforeValidator:
    """DRF IntegerField semantics: integers and their decimal strings, not booleans; bounds with DRF's messages."""

    def validate(value: Any) -> int:
        if value is None:
            raise PydanticCustomError("null", "This field may not be null.")
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and value.strip().lstrip("+-").isdigit() and len(value.strip()) <= 12:
            number = int(value.strip())
        if number is None:
            raise PydanticCustomError("int_parsing", "A valid integer is required.")
        if number < low:
            raise PydanticCustomError("min_value", "Ensure this value is greater than or equal to {low}.", {"low": low})
        if number > high:
            raise PydanticCustomError("max_value", "Ensure this value is less than or equal to {high}.", {"high": high})
        return number

    return BeforeValidator(validate)


# Optional on input but never null: the validators run (and refuse null) whenever a field is sent, and the
# OpenAPI document says exactly what they accept (the fuzz suite holds the two to each other).
OptionalDateTime = Annotated[
    datetime | None, BeforeValidator(_datetime), WithJsonSchema({"type": "string", "pattern": DATETIME_PATTERN})
]
OptionalUrl = Annotated[str | None, _char_field(2048), _char_schema(2048)]
OptionalBotName = Annotated[str | None, _char_field(255), _char_schema(255)]
OptionalEventId = Annotated[str | None, _char_field(1024), _char_schema(1024)]


def _integer_schema(low: int, high: int) -> WithJsonSchema:
    return WithJsonSchema({"type": "integer", "minimum": low, "maximum": high})


OptionalJoinOffset = Annotated[
    int | None,
    _integer(-MAX_JOIN_OFFSET_SECONDS, MAX_JOIN_OFFSET_SECONDS),
    _integer_schema(-MAX_JOIN_OFFSET_SECONDS, MAX_JOIN_OFFSET_SECONDS),
]
OptionalDispatchLead = Annotated[
    int | None, _integer(0, MAX_DISPATCH_LEAD_SECONDS), _integer_schema(0, MAX_DISPATCH_LEAD_SECONDS)
]

JOIN_OFFSET_DOC = "Seconds after the event's start at which the bot joins (negative: before it). Default 0."
DISPATCH_LEAD_DOC = (
    "Seconds before join_at at which the runner is told to launch the bot (0-3600). "
    "Default: the setting CALSYNC_BOT_DISPATCH_LEAD_SECONDS (120)."
)


class CreateBotRequest(RequestModel):
    meeting_url: OptionalUrl = Field(
        default=None, description="The meeting to join. Required without calendar_event_id, refused with it."
    )
    join_at: OptionalDateTime = Field(
        default=None, description="When the bot joins (default: now). Refused with calendar_event_id."
    )
    calendar_event_id: OptionalEventId = Field(
        default=None, description="An `evt_…` id: the bot's join time and meeting URL follow this event"
    )
    bot_name: OptionalBotName = Field(default=None, description="The bot's display name, for the runner")
    metadata: OptionalMetadata = Field(default=None, description="JSON object of strings, sent with every webhook")
    deduplication_key: OptionalLongKey = Field(
        default=None, description="Unique among the project's bots that have not ended (cancelled or failed)"
    )
    join_offset_seconds: OptionalJoinOffset = Field(default=None, description=JOIN_OFFSET_DOC)
    dispatch_lead_seconds: OptionalDispatchLead = Field(default=None, description=DISPATCH_LEAD_DOC)


class PatchBotRequest(RequestModel):
    bot_name: OptionalBotName = None
    metadata: PatchMetadata = Field(default=None, description="Replaces the stored metadata; null or {} clears it")
    join_offset_seconds: OptionalJoinOffset = Field(default=None, description=JOIN_OFFSET_DOC)
    dispatch_lead_seconds: OptionalDispatchLead = Field(default=None, description=DISPATCH_LEAD_DOC)
    join_at: OptionalDateTime = Field(default=None, description="Only for a bot without calendar_event_id")
    meeting_url: OptionalUrl = Field(default=None, description="Only for a bot without calendar_event_id")


CREATE_BOT_FIELDS = tuple(CreateBotRequest.model_fields)
PATCH_BOT_FIELDS = tuple(PatchBotRequest.model_fields)
