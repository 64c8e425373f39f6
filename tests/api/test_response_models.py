"""The typed success bodies of the OpenAPI document: every operation that answers with a body names its schema, the
enums spelled out for the document are the server's own, and every example is a valid instance of its model.
(That the server's responses match these schemas is the fuzz suite's check, tests/api/test_fuzz_contract.py.)"""

from __future__ import annotations

from typing import Any, get_args

import jsonschema_rs
import pytest
from pydantic import BaseModel

from calsync.api import bot_responses, examples, schemas, webhook_schemas
from calsync.runtime import build_app, build_context
from calsync.security.secret_box import generate_key
from calsync.settings import Settings
from calsync.store.models.bot import BotState
from calsync.store.models.webhook import DeliveryStatus
from calsync.webhooks.payloads import TRIGGERS


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    context = build_context(Settings(encryption_keys=generate_key(), database_url="sqlite+aiosqlite:///:memory:"))
    return build_app(context).openapi()


def test_every_success_body_has_a_named_schema(document: dict[str, Any]) -> None:
    untyped = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if not status.startswith("2"):
                    continue
                content = response.get("content")
                if content is None:
                    assert method == "delete", (method, path)  # an empty body: nothing to type
                    continue
                if "$ref" not in content["application/json"]["schema"]:
                    untyped.append(f"{method.upper()} {path} {status}")
    assert untyped == []


def test_every_error_body_is_named(document: dict[str, Any]) -> None:
    """Errors too: a generated client parses each into a type (the 503 of a database fault as ErrorDetail, with
    one exception, /ready's own report)."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status.startswith("2"):
                    continue
                schema = response["content"]["application/json"]["schema"]
                options = schema.get("anyOf", [schema])
                assert all("$ref" in option for option in options), (method, path, status)
    ready = document["paths"]["/ready"]["get"]["responses"]["503"]["content"]["application/json"]["schema"]
    assert ready == {"$ref": "#/components/schemas/NotReady"}


def test_enums_of_the_document_are_the_servers() -> None:
    assert get_args(webhook_schemas.Trigger) == TRIGGERS
    assert set(get_args(webhook_schemas.DeliveryStatus)) == {status.value for status in DeliveryStatus}
    assert set(get_args(bot_responses.BotState)) == {state.value for state in BotState}


@pytest.mark.parametrize(
    ("model", "example"),
    [
        (schemas.CalendarOut, examples.CALENDAR_RESPONSE),
        (schemas.CalendarEventOut, examples.EVENT_RESPONSE),
        (schemas.PlatformCalendarOut, examples.PLATFORM_CALENDAR_RESPONSE),
        (bot_responses.BotOut, examples.BOT_RESPONSE),
        (webhook_schemas.WebhookOut, examples.WEBHOOK_RESPONSE),
        (webhook_schemas.WebhookSecretOut, examples.WEBHOOK_SECRET_RESPONSE),
        (webhook_schemas.IssuedWebhookSecret, examples.ISSUED_WEBHOOK_SECRET_RESPONSE),
        (webhook_schemas.WebhookDeliveryOut, examples.WEBHOOK_DELIVERY_RESPONSE),
        (webhook_schemas.WebhookAttemptOut, examples.WEBHOOK_ATTEMPT_RESPONSE),
    ],
)
def test_examples_are_instances_of_their_models(model: type[BaseModel], example: dict[str, Any]) -> None:
    # Strict: an example states every field the server sends, no more.
    assert set(example) == set(model.model_fields)
    model.model_validate(example, strict=True)


def test_every_example_in_the_document_matches_its_schema(document: dict[str, Any]) -> None:
    """As served: FastAPI drops nulls from the document, and calsync.api.openapi puts the examples' back."""
    schemas = document["components"]["schemas"]
    checked = 0
    for name, schema in schemas.items():
        validator = jsonschema_rs.validator_for({**schema, "components": document["components"]})
        for example in schema.get("examples", []):
            assert [error.message for error in validator.iter_errors(example)] == [], name
            checked += 1
    assert checked >= 12


def test_the_signing_secret_is_optional_but_never_null(document: dict[str, Any]) -> None:
    created = document["components"]["schemas"]["CreatedWebhook"]
    assert "signing_secret" not in created["required"]
    assert created["properties"]["signing_secret"] == {
        **created["properties"]["signing_secret"],
        "$ref": "#/components/schemas/IssuedWebhookSecret",
    }
    assert "default" not in created["properties"]["signing_secret"]
