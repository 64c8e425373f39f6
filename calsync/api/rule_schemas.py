"""Bodies of `/api/v1/bot_rules` (docs/bots.md, "Rules"), validated with the calendar API's field rules and
messages. Fields that may be null say so in the OpenAPI document; the others are optional but never null."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from calsync.api.bot_schemas import (
    DISPATCH_LEAD_DOC,
    JOIN_OFFSET_DOC,
    MAX_DISPATCH_LEAD_SECONDS,
    OptionalJoinOffset,
    _integer,
)
from calsync.api.schemas import RequestModel, _char_field, _metadata_schema, validate_metadata
from calsync.ids import looks_like_id
from calsync.meetings.decide import EVENT_SELECTIONS, RESPONSES
from calsync.meetings.internal_domains import MAX_DOMAINS
from calsync.outbound.hostnames import MAX_NAME_LENGTH
from calsync.web.inputs import check_text, quoted, trimmed_text_pattern

MAX_KEYWORDS = 50
MAX_KEYWORD_LENGTH = 255
MAX_CALENDAR_IDS = 500
MAX_PRIORITY = 1_000_000
MAX_PARTICIPANTS = 100_000
CALENDAR_ID_PATTERN = "^cal_[A-Za-z0-9]{16}$"


def _not_null(value: Any) -> None:
    if value is None:
        raise PydanticCustomError("null", "This field may not be null.")


def _boolean(value: Any) -> bool:
    _not_null(value)
    if not isinstance(value, bool):
        raise PydanticCustomError("bool_type", "Must be a valid boolean.")
    return value


def _choice(choices: Sequence[str]) -> Callable[[Any], str]:
    def validate(value: Any) -> str:
        _not_null(value)
        if value not in choices:
            raise PydanticCustomError("invalid_choice", '"{value}" is not a valid choice.', {"value": quoted(value)})
        return str(value)

    return validate


def _nullable(validate: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else validate(value)


def _strings(max_items: int, item: Callable[[Any], str]) -> Callable[[Any], list[str]]:
    def validate(value: Any) -> list[str]:
        if not isinstance(value, list):
            raise PydanticCustomError("list_type", "Expected a list of items.")
        if len(value) > max_items:
            raise PydanticCustomError("max_items", "Ensure this field has no more than {n} elements.", {"n": max_items})
        return [item(element) for element in value]

    return validate


def _keyword(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PydanticCustomError("blank", "Each keyword must be a non-blank string.")
    text = value.strip()
    if len(text) > MAX_KEYWORD_LENGTH:
        raise PydanticCustomError(
            "max_length", "Ensure each keyword has no more than {n} characters.", {"n": MAX_KEYWORD_LENGTH}
        )
    check_text(text)
    return text


def _calendar_id(value: Any) -> str:
    if not isinstance(value, str) or not looks_like_id("cal_", value):
        raise PydanticCustomError("calendar_id", "Each calendar id must be a `cal_…` id.")
    return value


def _integer_or_null(low: int, high: int) -> BeforeValidator:
    inner = _integer(low, high).func
    return BeforeValidator(lambda value: None if value is None else inner(value))  # type: ignore[call-arg]


def _nullable_schema(schema: dict[str, Any]) -> WithJsonSchema:
    return WithJsonSchema({"anyOf": [schema, {"type": "null"}]})


def _name(value: Any) -> str:
    validated: str = _char_field(255).func(value)  # type: ignore[call-arg]
    return validated


_NAME_SCHEMA = {"anyOf": [{"type": "string", "pattern": trimmed_text_pattern(255)}, {"type": "number"}]}
Name = Annotated[str | None, BeforeValidator(_name), WithJsonSchema(_NAME_SCHEMA)]
Boolean = Annotated[bool | None, BeforeValidator(_boolean), WithJsonSchema({"type": "boolean"})]
Priority = Annotated[
    int | None,
    _integer(-MAX_PRIORITY, MAX_PRIORITY),
    WithJsonSchema({"type": "integer", "minimum": -MAX_PRIORITY, "maximum": MAX_PRIORITY}),
]
Selection = Annotated[
    str | None,
    BeforeValidator(_choice(EVENT_SELECTIONS)),
    WithJsonSchema({"type": "string", "enum": list(EVENT_SELECTIONS)}),
]
Response = Annotated[
    str | None, BeforeValidator(_choice(RESPONSES)), WithJsonSchema({"type": "string", "enum": list(RESPONSES)})
]
Participants = Annotated[
    int | None,
    _integer_or_null(1, MAX_PARTICIPANTS),
    _nullable_schema({"type": "integer", "minimum": 1, "maximum": MAX_PARTICIPANTS}),
]
Keywords = Annotated[
    list[str] | None,
    BeforeValidator(_nullable(_strings(MAX_KEYWORDS, _keyword))),
    _nullable_schema(
        {"type": "array", "maxItems": MAX_KEYWORDS, "items": {"type": "string", "pattern": trimmed_text_pattern(255)}}
    ),
]
CalendarIds = Annotated[
    list[str] | None,
    BeforeValidator(_nullable(_strings(MAX_CALENDAR_IDS, _calendar_id))),
    _nullable_schema(
        {"type": "array", "maxItems": MAX_CALENDAR_IDS, "items": {"type": "string", "pattern": CALENDAR_ID_PATTERN}}
    ),
]
NullableMetadata = Annotated[
    dict[str, str] | None,
    BeforeValidator(_nullable(validate_metadata)),
    _nullable_schema(_metadata_schema(min_properties=1)),
]
NullableBotName = Annotated[
    str | None,
    BeforeValidator(_nullable(_name)),
    _nullable_schema(_NAME_SCHEMA),
]
NullableDispatchLead = Annotated[
    int | None,
    _integer_or_null(0, MAX_DISPATCH_LEAD_SECONDS),
    _nullable_schema({"type": "integer", "minimum": 0, "maximum": MAX_DISPATCH_LEAD_SECONDS}),
]

_DOCS = {
    "name": "A name for people",
    "is_active": "Inactive rules select nothing (default true)",
    "priority": "Of the rules that select a meeting, the highest priority gives the bot (default 0)",
    "calendar_ids": "Only these calendars (`cal_…` ids); null or absent: every calendar",
    "calendar_metadata": "Only calendars whose metadata has these key/value pairs; null or absent: every calendar",
    "event_selection": "all (default), external (an attendee outside the owner's and the project's internal "
    "domains), internal (none outside), own_events (the calendar's owner organizes), participant_only (invited)",
    "participants_gte": "At least this many participants (attendees and organizer)",
    "participants_lte": "At most this many participants",
    "response": "The calendar owner's response: any, not_declined (default), accepted",
    "exclude_all_day": "Leave all-day events out (default true)",
    "title_include": "Only titles containing one of these keywords (case-insensitive)",
    "title_exclude": "No titles containing one of these keywords (case-insensitive)",
    "bot_name": "The bots' display name, for the runner",
    "metadata": "JSON object of strings given to the bots (sent with every bot webhook)",
    "join_offset_seconds": JOIN_OFFSET_DOC,
    "dispatch_lead_seconds": DISPATCH_LEAD_DOC + " Null: the default.",
}


def _field(name: str) -> Any:
    return Field(default=None, description=_DOCS[name])


class BotRuleRequest(RequestModel):
    """PATCH: any subset of the fields."""

    name: Name = _field("name")
    is_active: Boolean = _field("is_active")
    priority: Priority = _field("priority")
    calendar_ids: CalendarIds = _field("calendar_ids")
    calendar_metadata: NullableMetadata = _field("calendar_metadata")
    event_selection: Selection = _field("event_selection")
    participants_gte: Participants = _field("participants_gte")
    participants_lte: Participants = _field("participants_lte")
    response: Response = _field("response")
    exclude_all_day: Boolean = _field("exclude_all_day")
    title_include: Keywords = _field("title_include")
    title_exclude: Keywords = _field("title_exclude")
    bot_name: NullableBotName = _field("bot_name")
    metadata: NullableMetadata = _field("metadata")
    join_offset_seconds: OptionalJoinOffset = _field("join_offset_seconds")
    dispatch_lead_seconds: NullableDispatchLead = _field("dispatch_lead_seconds")


class CreateBotRuleRequest(BotRuleRequest):
    """POST: `name` is required, the other fields take their defaults."""

    name: Name = Field(description=_DOCS["name"])


RULE_FIELDS = tuple(BotRuleRequest.model_fields)
# Absent on create: the stored default.
DEFAULTS: dict[str, Any] = {
    "is_active": True,
    "priority": 0,
    "event_selection": "all",
    "response": "not_declined",
    "exclude_all_day": True,
    "join_offset_seconds": 0,
}


class RuleEvaluationOut(BaseModel):
    state: Literal["running", "done"] = Field(description="Whether the re-evaluation of its last change is running")
    meetings_total: int = Field(description="Meetings the last change queued for re-evaluation")
    meetings_done: int


class BotRuleOut(BaseModel):
    id: str = Field(description="`rul_…`")
    name: str
    is_active: bool
    priority: int
    calendar_ids: list[str] | None
    calendar_metadata: dict[str, str] | None
    event_selection: Literal["all", "external", "internal", "own_events", "participant_only"]
    participants_gte: int | None
    participants_lte: int | None
    response: Literal["any", "not_declined", "accepted"]
    exclude_all_day: bool
    title_include: list[str] | None
    title_exclude: list[str] | None
    bot_name: str | None
    metadata: dict[str, str] | None
    join_offset_seconds: int
    dispatch_lead_seconds: int | None
    evaluation: RuleEvaluationOut
    created_at: str
    updated_at: str


class PaginatedBotRuleList(BaseModel):
    next: str | None
    previous: str | None
    results: list[BotRuleOut]


# A domain name as email addresses use it: ASCII labels of letters, digits and inner hyphens (at most 63
# characters), the last starting with a letter (a numeric one would read as an IPv4 address); an internationalized
# name in its `xn--` form. Spaces around it and a leading `@` are dropped. One pattern is both the published schema
# and the server's check, so a client generator and the server agree on every string.
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TOP_LABEL = "[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DOMAIN_PATTERN = f"^ *@?((?:{_LABEL}\\.)*{_TOP_LABEL}) *$"
_DOMAIN = re.compile(DOMAIN_PATTERN)


def _domain(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", "Each domain must be a string.")
    match = _DOMAIN.fullmatch(value) if len(value) <= MAX_NAME_LENGTH else None
    if match is None:
        raise PydanticCustomError(
            "invalid_domain",
            "{value} is not a domain name such as acme.com (at most {n} characters).",
            {"value": quoted(value), "n": MAX_NAME_LENGTH},
        )
    return match.group(1).lower()


Domains = Annotated[
    list[str] | None,
    BeforeValidator(_strings(MAX_DOMAINS, _domain)),
    WithJsonSchema(
        {
            "type": "array",
            "maxItems": MAX_DOMAINS,
            "items": {"type": "string", "maxLength": MAX_NAME_LENGTH, "pattern": DOMAIN_PATTERN},
        }
    ),
]


class BotRuleSettingsRequest(RequestModel):
    """PATCH: the settings sent are replaced; the others stay."""

    internal_domains: Domains = Field(
        default=None,
        description="Email domains counted as internal besides each calendar owner's own (`event_selection` "
        "`internal` / `external`); lower-cased, a leading `@` dropped; `[]` clears the list. A change re-evaluates "
        f"the meetings of the window in the background. At most {MAX_DOMAINS}.",
    )


BOT_RULE_SETTINGS_FIELDS = tuple(BotRuleSettingsRequest.model_fields)


class BotRuleSettingsOut(BaseModel):
    internal_domains: list[str] = Field(description="Sorted, each once")
