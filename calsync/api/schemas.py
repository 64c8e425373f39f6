"""Request and response models. Validation messages reproduce the anchor's (Django REST framework) texts
so existing clients that show or match them keep working; the OpenAPI page is generated from these."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    JsonValue,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from calsync.api import examples
from calsync.api.bot_responses import BotOut
from calsync.web.inputs import NO_NUL_PATTERN, check_text, first_text_problem, printable, quoted, trimmed_text_pattern

MAX_METADATA_LENGTH = 1000


class RequestModel(BaseModel):
    """A request body: unknown fields are refused (the anchor's "Unexpected field(s)"). A field that is optional but
    never null (the anchor's) defaults to None in Python only: its JSON Schema offers no `"default": null` that
    the field's own schema would refuse."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return _without_null_defaults(handler.resolve_ref_schema(handler(core_schema)))


class ResponseModel(BaseModel):
    """A response body, for the OpenAPI document only (handlers render dicts themselves). A field the server
    sometimes leaves out but never sends as null (`X | SkipJsonSchema[None] = None`) is optional in the schema,
    with no `"default": null` that its own schema refuses."""

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return _without_null_defaults(handler.resolve_ref_schema(handler(core_schema)))


def _without_null_defaults(schema: JsonSchemaValue) -> JsonSchemaValue:
    for prop in schema.get("properties", {}).values():
        if "default" in prop and prop["default"] is None and not _admits_null(prop):
            del prop["default"]
    return schema


def _admits_null(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "null" or any(_admits_null(option) for option in schema.get("anyOf", ()))


# A key in a PostgreSQL B-tree index must fit a third of a page (2704 bytes with the rest of the entry), or the
# insert fails ("index row size exceeds maximum"): 1024 characters of 4-byte UTF-8 do not. Bounded in bytes too,
# on both databases alike.
MAX_INDEXED_BYTES = 2048


def _char_field(max_length: int, max_bytes: int | None = None) -> BeforeValidator:
    """DRF CharField semantics: numbers are coerced to strings, booleans and containers are not, whitespace
    is trimmed, blank and null are rejected, and over-long values get a clear message (never a DB error).
    `max_bytes`: the UTF-8 length limit of a value that is a key of an index."""

    def validate(value: Any) -> str:
        if isinstance(value, FieldRefusal):
            raise PydanticCustomError(value.kind, value.message)
        if value is None:
            raise PydanticCustomError("null", "This field may not be null.")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise PydanticCustomError("invalid_string", "Not a valid string.")
        text = str(value).strip()
        if not text:
            raise PydanticCustomError("blank", "This field may not be blank.")
        if len(text) > max_length:
            raise PydanticCustomError(
                "max_length", "Ensure this field has no more than {max_length} characters.", {"max_length": max_length}
            )
        check_text(text)
        if max_bytes is not None and len(text.encode()) > max_bytes:
            raise PydanticCustomError(
                "max_bytes", "Ensure this field has no more than {max_bytes} bytes in UTF-8.", {"max_bytes": max_bytes}
            )
        return text

    return BeforeValidator(validate)


def _char_schema(max_length: int) -> WithJsonSchema:
    """What `_char_field` accepts, exactly, for the OpenAPI document (never null, even where optional)."""
    return WithJsonSchema(
        {"anyOf": [{"type": "string", "pattern": trimmed_text_pattern(max_length)}, {"type": "number"}]}
    )


def _metadata_schema(*, min_properties: int) -> dict[str, Any]:
    # Not expressible here: the anchor's limit on the object's JSON length (MAX_METADATA_LENGTH).
    return {
        "type": "object",
        "minProperties": min_properties,
        "propertyNames": {"pattern": NO_NUL_PATTERN},
        "additionalProperties": {"type": "string", "pattern": NO_NUL_PATTERN},
    }


PLATFORMS = ("google", "microsoft", "caldav", "icloud", "ics")
# The credential fields each platform takes (docs/caldav.md, docs/ics.md): required when the platform is named,
# refused with another. An unknown or missing platform takes Google's and Microsoft's, as before.
OAUTH_FIELDS = ("client_id", "client_secret", "refresh_token")
PLATFORM_FIELDS: dict[str, tuple[str, ...]] = {
    "google": OAUTH_FIELDS,
    "microsoft": OAUTH_FIELDS,
    "caldav": ("server_url", "username", "password"),
    "icloud": ("username", "password"),
    "ics": ("url",),
}
CREDENTIAL_FIELDS = ("client_id", "client_secret", "refresh_token", "server_url", "username", "password", "url")


class FieldRefusal:
    """Put in place of a credential field by `CreateCalendarRequest`'s platform check, so the field's own
    validator reports it with the other fields' errors (the anchor reports every field at once)."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind, self.message = kind, message


def _platform(value: Any) -> str:
    if value in PLATFORMS:
        return str(value)
    if value is None:
        raise PydanticCustomError("null", "This field may not be null.")
    # Quoted input must be encodable: pydantic itself fails on a lone surrogate in an error's context.
    raise PydanticCustomError("invalid_choice", '"{value}" is not a valid choice.', {"value": quoted(value)})


def validate_metadata(value: Any) -> dict[str, str]:
    if value is None:
        raise PydanticCustomError("null", "This field may not be null.")
    if not isinstance(value, dict):
        raise PydanticCustomError("metadata_type", "Metadata must be an object not an array or other type")
    if not value:
        raise PydanticCustomError("metadata_empty", "Metadata must have at least one key")
    for key, item in value.items():
        if not isinstance(item, str):
            raise PydanticCustomError(
                "metadata_value", "Value for key '{key}' must be a string", {"key": printable(key)}
            )
    # Stored as jsonb on PostgreSQL, which refuses U+0000 in keys and values alike.
    problem = first_text_problem(value)
    if problem is not None:
        raise PydanticCustomError(*problem)
    if len(json.dumps(value)) > MAX_METADATA_LENGTH:
        raise PydanticCustomError(
            "metadata_length", "Metadata must be less than {limit} characters", {"limit": MAX_METADATA_LENGTH}
        )
    return value


def _patch_metadata(value: Any) -> dict[str, str] | None:
    # A fix of the anchor's weakness: PATCH may clear metadata with null or {}.
    if value is None or value == {}:
        return None
    return validate_metadata(value)


ClientId = Annotated[str, _char_field(255), _char_schema(255)]
Secret = Annotated[str, _char_field(8192), _char_schema(8192)]
# Optional on input but never null: the validator runs (and rejects null) whenever the field is sent.
OptionalSecret = Annotated[str | None, _char_field(8192), _char_schema(8192)]
Platform = Annotated[Literal["google", "microsoft", "caldav", "icloud", "ics"], BeforeValidator(_platform)]
OptionalUrl = Annotated[str | None, _char_field(2048), _char_schema(2048)]
OptionalClientId = Annotated[str | None, _char_field(255), _char_schema(255)]
OptionalLongKey = Annotated[str | None, _char_field(1024), _char_schema(1024)]
OptionalIndexedKey = Annotated[str | None, _char_field(1024, MAX_INDEXED_BYTES), _char_schema(1024)]
OptionalMetadata = Annotated[
    dict[str, str] | None, BeforeValidator(validate_metadata), WithJsonSchema(_metadata_schema(min_properties=1))
]
PatchMetadata = Annotated[
    dict[str, str] | None,
    BeforeValidator(_patch_metadata),
    WithJsonSchema({"anyOf": [_metadata_schema(min_properties=0), {"type": "null"}]}),
]


def _platform_requirements() -> list[JsonValue]:
    """The platform check, as JSON Schema: each platform's credential fields are required with it, the others'
    refused."""
    rules: list[JsonValue] = []
    for platform, fields in PLATFORM_FIELDS.items():
        others: list[JsonValue] = [{"required": [name]} for name in CREDENTIAL_FIELDS if name not in fields]
        rules.append(
            {
                "if": {"properties": {"platform": {"const": platform}}, "required": ["platform"]},
                "then": {"required": list(fields), "not": {"anyOf": others}},
            }
        )
    return rules


class CreateCalendarRequest(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                examples.CREATE_CALENDAR_REQUEST,
                examples.CREATE_CALDAV_CALENDAR_REQUEST,
                examples.CREATE_ICS_CALENDAR_REQUEST,
            ],
            "allOf": _platform_requirements(),
        }
    )

    client_id: OptionalClientId = Field(
        default=None,
        description="The client ID for the calendar platform authentication (google and microsoft only)",
    )
    client_secret: OptionalSecret = Field(
        default=None,
        description="The client secret for the calendar platform authentication (google and microsoft only)",
    )
    platform: Platform = Field(
        description="google, microsoft, caldav (any CalDAV server), icloud (CalDAV at iCloud) or ics (a feed URL)"
    )
    refresh_token: OptionalSecret = Field(
        default=None,
        description="The refresh token for accessing the calendar platform (google and microsoft only)",
    )
    server_url: OptionalUrl = Field(
        default=None,
        description="caldav only: the CalDAV server's address (e.g. https://caldav.fastmail.com/dav/); calsync "
        "discovers the account's calendars from it",
    )
    username: OptionalClientId = Field(default=None, description="caldav and icloud: the account's user name")
    password: OptionalSecret = Field(
        default=None,
        description="caldav and icloud: an app password (iCloud: an app-specific password); checked before the "
        "calendar is created, stored encrypted, never shown",
    )
    url: OptionalUrl = Field(
        default=None,
        description="ics only: the feed's address (https:// or webcal://). It is a secret: stored encrypted, only "
        "its host is ever shown (as client_id)",
    )
    deduplication_key: OptionalIndexedKey = Field(
        default=None,
        description="Optional key for deduplicating calendars. If a calendar with this key already exists in the "
        "project, the new calendar will not be created and an error will be returned. At most 1024 characters "
        f"and {MAX_INDEXED_BYTES} bytes in UTF-8.",
    )
    metadata: OptionalMetadata = Field(
        default=None, description="JSON object containing metadata to associate with the calendar"
    )
    platform_uuid: OptionalLongKey = Field(
        default=None,
        description="The UUID of the calendar on the calendar platform. Specify only for non-primary calendars. "
        "caldav and icloud: a collection's address, as GET /api/v1/calendars/{id}/platform_calendars lists them.",
    )

    @model_validator(mode="before")
    @classmethod
    def _platform_fields(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        wanted = PLATFORM_FIELDS.get(_named_platform(data), OAUTH_FIELDS)
        checked = dict(data)
        for name in CREDENTIAL_FIELDS:
            if name in wanted and name not in data:
                checked[name] = FieldRefusal("missing", "This field is required.")
            elif name not in wanted and name in data:
                # Another platform's field is an unknown field here, reported as the anchor reports those.
                checked[name] = FieldRefusal("extra_forbidden", "Extra inputs are not permitted")
        return checked


def _named_platform(data: dict[str, Any]) -> str:
    platform = data.get("platform")
    return platform if isinstance(platform, str) and platform in PLATFORM_FIELDS else "google"


def create_fields(data: Any) -> tuple[str, ...]:
    """The fields a create body may hold, for its platform (an unknown or missing one: Google's and Microsoft's)."""
    wanted = PLATFORM_FIELDS[_named_platform(data)] if isinstance(data, dict) else OAUTH_FIELDS
    return tuple(name for name in CreateCalendarRequest.model_fields if name not in CREDENTIAL_FIELDS or name in wanted)


class PatchCalendarRequest(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [examples.PATCH_CALENDAR_REQUEST]})

    client_secret: OptionalSecret = Field(default=None, description="New client secret (reconnects the calendar)")
    refresh_token: OptionalSecret = Field(default=None, description="New refresh token (reconnects the calendar)")
    password: OptionalSecret = Field(
        default=None, description="caldav and icloud: a new app password, checked first (reconnects the calendar)"
    )
    url: OptionalUrl = Field(
        default=None, description="ics: the feed's new address, checked first (reconnects the calendar)"
    )
    metadata: PatchMetadata = Field(default=None, description="Replaces the stored metadata; null or {} clears it")


PATCH_FIELDS = tuple(PatchCalendarRequest.model_fields)
PATCH_CREDENTIAL_FIELDS = ("client_secret", "refresh_token", "password", "url")
_PATCH_CREDENTIALS = {"caldav": ("password",), "icloud": ("password",), "ics": ("url",)}


def patch_fields(platform: str | None) -> tuple[str, ...]:
    """The fields a PATCH of a calendar on `platform` may hold (None: the calendar is unknown, Google's)."""
    wanted = _PATCH_CREDENTIALS.get(platform or "google", ("client_secret", "refresh_token"))
    return tuple(name for name in PATCH_FIELDS if name not in PATCH_CREDENTIAL_FIELDS or name in wanted)


class ConnectionFailureData(BaseModel):
    error: str
    code: str | None = Field(default=None, description="Machine-readable reason, e.g. grant_revoked")
    timestamp: str


class CalendarOut(BaseModel):
    """A calendar. The first twelve fields are the anchor's, in its order; the rest are calsync additions."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.CALENDAR_RESPONSE]})

    id: str
    platform: Literal["google", "microsoft", "caldav", "icloud", "ics"]
    client_id: str = Field(
        description="google/microsoft: the OAuth client ID; caldav/icloud: the user name; ics: the feed's host only"
    )
    platform_uuid: str | None
    state: Literal["connected", "disconnected"]
    metadata: dict[str, str] | None
    deduplication_key: str | None
    connection_failure_data: dict[str, Any] | None
    created_at: str
    updated_at: str
    last_successful_sync_at: str | None
    last_attempted_sync_at: str | None
    last_sync_error: dict[str, Any] | None = Field(
        description="The last failure that did not disconnect the calendar ({code, error, timestamp}), "
        "cleared by the next successful sync"
    )
    next_sync_at: str | None
    push: dict[str, Any] = Field(description="Push channel health: {state: none|active|failing, error}")
    owner_email: str | None = Field(
        description="The calendar user's email address, learned at the first sync (null until then, or when the "
        "platform does not tell it): meetings' bot rules tell internal from external attendees by its domain"
    )


class PaginatedCalendarList(BaseModel):
    next: str | None
    previous: str | None
    results: list[CalendarOut]


class AttendeeOut(BaseModel):
    email: str | None
    name: str | None
    response_status: str | None = None
    is_organizer: bool = False
    is_self: bool = False


class CalendarEventOut(BaseModel):
    """An event. The anchor's fields first, then calsync additions."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.EVENT_RESPONSE]})

    id: str
    calendar_id: str
    platform_uuid: str
    meeting_url: str | None
    start_time: str
    end_time: str
    is_deleted: bool
    attendees: list[AttendeeOut] | None
    ical_uid: str | None
    name: str | None
    raw: dict[str, Any] | None
    bots: list[BotOut] = Field(description="The event's bots in every state (docs/bots.md)")
    created_at: str
    updated_at: str
    is_all_day: bool
    time_zone: str | None
    status: str | None
    location: str | None
    organizer: dict[str, Any] | None
    recurring_event_id: str | None
    html_link: str | None
    meeting_platform: str | None
    change_seq: int = Field(
        description="Increases with every change of the event, in the order changes become visible; numbers may be skipped"
    )
    meeting_id: str | None = Field(
        default=None,
        description="The `mtg_…` meeting this event belongs to: the same meeting on every calendar of the project "
        "(GET /api/v1/meetings/{id}); null for an event stored before meetings existed that has not changed since",
    )


class PaginatedCalendarEventList(BaseModel):
    next: str | None
    previous: str | None
    results: list[CalendarEventOut]


class HealthStatus(BaseModel):
    status: Literal["ok"]


class ReadyStatus(BaseModel):
    status: Literal["ok"]
    database: Literal["ok"]


class NotReady(BaseModel):
    status: Literal["unavailable"]
    database: str = Field(description="The class of the database error, e.g. ConnectionRefusedError")


class PlatformCalendarOut(BaseModel):
    """A calendar of the account on the platform, to choose a `platform_uuid` from."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.PLATFORM_CALENDAR_RESPONSE]})

    platform_uuid: str = Field(description="The value to give as `platform_uuid`")
    name: str | None
    is_primary: bool
    time_zone: str | None
    can_edit: bool | None = Field(description="Whether the account may write to it (null: the platform did not say)")
    selected: bool = Field(description="Whether this is the calendar calsync mirrors for this calendar")


class PlatformCalendarList(BaseModel):
    results: list[PlatformCalendarOut]
