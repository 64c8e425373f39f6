"""The input rules of calsync.web.inputs / .datetimes and the OpenAPI document that publishes them: each
pattern the document serves accepts exactly what the server accepts (property-based, no database)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from calsync.api.openapi import JSON_MEDIA_TYPE_PATTERN
from calsync.api.routes.calendar_events import _BOOL_PATTERN, _bool_param
from calsync.api.rule_schemas import DOMAIN_PATTERN, BotRuleSettingsRequest
from calsync.api.schemas import CreateCalendarRequest
from calsync.outbound.hostnames import MAX_NAME_LENGTH
from calsync.runtime import build_app, build_context
from calsync.security.secret_box import generate_key
from calsync.settings import Settings
from calsync.store.duration_classes import CLASS_LIMITS, UNBOUNDED_CLASS, earliest_begin
from calsync.web.datetimes import (
    DATETIME_PATTERN,
    MAX_INSTANT,
    MIN_INSTANT,
    OPTIONAL_DATETIME_PATTERN,
    OutOfRange,
    parse_query_datetime,
)
from calsync.web.errors import is_json_media_type
from calsync.web.inputs import (
    INT64_MAX,
    INT64_MIN,
    STRIPPED_CLASS,
    first_text_problem,
    is_int64,
    printable,
    quoted,
    text_problem,
    trimmed_text_pattern,
)
from tests.support.service import Tenant

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Unicode scalar values only: a JSON Schema string cannot hold a lone surrogate, so no pattern can refuse one (the
# server does: tests/api/test_hostile_input.py).
SCALAR = st.characters(codec="utf-8")
# Text that leans on the characters the rules are about: whitespace of every kind, digits, NUL, separators.
EDGY = st.text(st.sampled_from(list(" \t\n\x0b\x0c\r\x1c\x85\xa0\u2028\u3000\x00aZ09:+-.,TtZz")) | SCALAR)


def matching(pattern: str) -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=True, alphabet=SCALAR)


def test_stripped_class_is_what_str_strip_removes() -> None:
    spaces = "".join(c for c in map(chr, range(0x110000)) if c.isspace())
    assert re.fullmatch(f"[{STRIPPED_CLASS}]+", spaces)
    assert not any(re.fullmatch(f"[{STRIPPED_CLASS}]", c) for c in map(chr, range(0x110000)) if not c.isspace())


def _char_field_accepts(value: str, max_length: int) -> bool:
    try:
        CreateCalendarRequest.model_validate(
            {"client_id": value, "client_secret": "s", "refresh_token": "r", "platform": "google"}
        )
    except ValidationError:
        return False
    return True


@FAST
@given(EDGY | matching(DOMAIN_PATTERN))
@example(" @Acme.COM ")
@example("a" * 63 + ".com")
@example("a" * 64 + ".com")
@example(".".join(["a" * 63] * 4))
@example("127.1")
def test_domain_pattern_is_the_validator(value: str) -> None:
    published = bool(re.fullmatch(DOMAIN_PATTERN, value)) and len(value) <= MAX_NAME_LENGTH
    try:
        BotRuleSettingsRequest.model_validate({"internal_domains": [value]})
        accepted = True
    except ValidationError:
        accepted = False
    assert published == accepted


@FAST
@given(EDGY | matching(trimmed_text_pattern(255)))
@example(" " * 300 + "x")
@example("x" * 255)
@example("x" * 256)
def test_char_field_pattern_is_the_validator(value: str) -> None:
    assert bool(re.fullmatch(trimmed_text_pattern(255), value)) == _char_field_accepts(value, 255)


@FAST
@given(EDGY | matching(DATETIME_PATTERN))
@example("2024-02-29T00:00Z")
@example("2023-02-29T00:00Z")
@example("0000-01-01T00:00Z")
@example("2025-01-13T10:30:00,1234567 +0530")
def test_datetime_pattern_is_the_parser(value: str) -> None:
    try:
        parsed: Any = parse_query_datetime(value)
    except OutOfRange:
        parsed = "out of range"  # well-formed: the pattern cannot say which instants exist
    assert bool(re.fullmatch(DATETIME_PATTERN, value)) == (parsed is not None)
    assert bool(re.fullmatch(OPTIONAL_DATETIME_PATTERN, value)) == (parsed is not None or value == "")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0001-01-01T00:00:00Z", MIN_INSTANT),
        ("0001-01-01T14:00:00+14:00", MIN_INSTANT),
        ("9999-12-31T23:59:59.999999Z", MAX_INSTANT),
        ("9999-12-31T09:59:59.999999-14:00", MAX_INSTANT),
        ("2025-01-13 10:30", datetime(2025, 1, 13, 10, 30, tzinfo=UTC)),
    ],
)
def test_datetime_limits(value: str, expected: datetime) -> None:
    assert parse_query_datetime(value) == expected


@pytest.mark.parametrize("value", ["0001-01-01T13:59:59.999999+14:00", "9999-12-31T23:59:59-00:01"])
def test_datetime_beyond_limits(value: str) -> None:
    with pytest.raises(OutOfRange):
        parse_query_datetime(value)


@FAST
@given(EDGY | matching(_BOOL_PATTERN))
def test_bool_pattern_is_the_parser(value: str) -> None:
    try:
        accepted = _bool_param("is_deleted", value) is not None
    except Exception:
        accepted = False
    assert bool(re.fullmatch(_BOOL_PATTERN, value)) == accepted


@FAST
@given(
    matching(JSON_MEDIA_TYPE_PATTERN).filter(lambda v: "\n" not in v and "\r" not in v)
    | st.text(st.sampled_from(list("applicationJSONjson/+; \t=x")))
)
@example("application/merge-patch+json; charset=utf-8")
@example("text/plain+json")
@example("application/a/b+json")
def test_json_media_type_pattern_is_fastapis_rule(value: str) -> None:
    assert bool(re.fullmatch(JSON_MEDIA_TYPE_PATTERN, value)) == is_json_media_type(value)


def test_text_rules() -> None:
    assert text_problem("ok ü 😀") is None
    assert text_problem("a\x00")[0] == "null_characters_not_allowed"  # type: ignore[index]
    assert text_problem("\ud800")[0] == "surrogate_characters_not_allowed"  # type: ignore[index]
    assert first_text_problem({"k": ["x", {"\ud83d": "y"}]}) is not None
    nested: Any = "x\x00"
    for _ in range(5000):  # deeper than the recursion limit: the walk is iterative
        nested = [nested]
    assert first_text_problem(nested) is not None
    assert printable({"\ud800": ["\udfff", 1]}) == {"\\ud800": ["\\udfff", 1]}
    # Quoting an invalid choice: a value the parser admitted near the recursion limit is named by its type.
    assert quoted("\ud800") == "\\ud800" and quoted(["x"]) == '["x"]' and quoted(nested) == "array"
    assert is_int64(INT64_MAX) and is_int64(INT64_MIN)
    assert not any(is_int64(v) for v in (INT64_MAX + 1, INT64_MIN - 1, True, 1.0, "1"))


def test_class_bounds_saturate_at_the_earliest_datetime() -> None:
    for duration in range(UNBOUNDED_CLASS):
        assert earliest_begin(duration, MIN_INSTANT) is None
        point = MIN_INSTANT + CLASS_LIMITS[duration]
        assert earliest_begin(duration, point) == MIN_INSTANT
        assert earliest_begin(duration, MAX_INSTANT) == MAX_INSTANT - CLASS_LIMITS[duration]
    assert earliest_begin(UNBOUNDED_CLASS, MAX_INSTANT - timedelta(days=1)) is None


# --- the OpenAPI document ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    context = build_context(Settings(encryption_keys=generate_key(), database_url="sqlite+aiosqlite:///:memory:"))
    return build_app(context).openapi()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in document["paths"].items() for method, op in item.items()]


def test_document_declares_what_every_operation_can_answer(document: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in document["components"]["schemas"]
    scheme = document["components"]["securitySchemes"]["ApiKey"]
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "Authorization"}
    secured = [path for path, _method, operation in _operations(document) if operation.get("security")]
    assert "/api/v1/calendars" in secured and "/health" not in secured
    for path, method, operation in _operations(document):
        responses = operation["responses"]
        assert "422" not in responses, (method, path)  # never sent: validation errors are Attendee's 400
        names = {(p["in"], p["name"]) for p in operation.get("parameters", [])}
        assert "400" in responses
        # No header parameters: the key is the security scheme, the media type the request body's.
        assert not any(where == "header" for where, _ in names), (method, path, names)
        if operation.get("security"):
            assert operation["security"] == [{"ApiKey": []}]
            assert responses["401"]["headers"]["WWW-Authenticate"]
        if "requestBody" in operation:
            assert {"413", "415"} <= set(responses), (method, path)
        if any(where == "path" for where, _ in names) or ("query", "cursor") in names:
            assert "404" in responses, (method, path)
        for parameter in operation.get("parameters", []):
            if parameter["in"] in ("query", "path"):
                schema = parameter["schema"]
                assert "anyOf" not in schema and ("pattern" in schema or "enum" in schema), (path, parameter)


def test_document_specifics(document: dict[str, Any]) -> None:
    paths = document["paths"]
    events = {p["name"]: p["schema"] for p in paths["/api/v1/calendar_events"]["get"]["parameters"]}
    assert events["start_time_gte"]["pattern"] == DATETIME_PATTERN
    assert events["updated_at_gte"]["pattern"] == OPTIONAL_DATETIME_PATTERN
    assert "" in events["ordering"]["enum"]
    assert set(paths["/api/v1/calendars/{object_id}/platform_calendars"]["get"]["responses"]) >= {"409", "429", "502"}
    assert paths["/api/v1/calendars/{object_id}"]["delete"]["responses"]["200"].get("content") is None
    assert "/api/v1/webhook_secret/{secret_id}" in paths  # the route's convertor stays out of the document
    create = document["components"]["schemas"]["CreateCalendarRequest"]["properties"]
    assert "default" not in create["deduplication_key"]  # optional but never null


async def test_an_offset_sent_without_url_encoding_is_read_as_the_positive_offset_it_was(tenant: Tenant) -> None:
    """`?start_time_gte=…+01:00` typed into a URL: the `+` arrives as a space (Attendee's clients send it so)."""
    raw = await tenant.client.get(
        "/api/v1/calendar_events?start_time_gte=2026-01-01T10:00:00+01:00&ordering=start_time"
    )
    encoded = await tenant.client.get(
        "/api/v1/calendar_events", params={"start_time_gte": "2026-01-01T10:00:00+01:00", "ordering": "start_time"}
    )
    assert raw.status_code == 200, raw.text
    assert raw.json() == encoded.json()
    assert parse_query_datetime("2026-01-01T10:00:00 01:00") == datetime(2026, 1, 1, 9, tzinfo=UTC)
    assert parse_query_datetime("2026-01-01T10:00:00 01") is None, "minutes required after a bare space"
