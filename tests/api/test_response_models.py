"""The typed success bodies of the OpenAPI document: every operation that answers with a body names its schema, the
enums spelled out for the document are the server's own, and every example is a valid instance of its model.
(That the server's responses match these schemas is the fuzz suite's check, tests/api/test_fuzz_contract.py.)"""

from __future__ import annotations

from typing import Any, get_args

import pytest
from pydantic import BaseModel

from calsync.api import bot_schemas, examples, schemas, webhook_schemas
from calsync.api.app import create_app
from calsync.context import AppContext
from calsync.security.secret_box import generate_key
from calsync.settings import Settings
from calsync.store.models.bot import BotState
from calsync.store.models.webhook import DeliveryStatus
from calsync.webhooks.payloads import TRIGGERS


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    context = AppContext.from_settings(
        Settings(encryption_keys=generate_key(), database_url="sqlite+aiosqlite:///:memory:")
    )
    return create_app(context).openapi()


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


def test_enums_of_the_document_are_the_servers() -> None:
    assert get_args(webhook_schemas.Trigger) == TRIGGERS
    assert set(get_args(webhook_schemas.DeliveryStatus)) == {status.value for status in DeliveryStatus}
    assert set(get_args(bot_schemas.BotState)) == {state.value for state in BotState}


@pytest.mark.parametrize(
    ("model", "example"),
    [
        (schemas.CalendarOut, examples.CALENDAR_RESPONSE),
        (schemas.CalendarEventOut, examples.EVENT_RESPONSE),
        (schemas.PlatformCalendarOut, examples.PLATFORM_CALENDAR_RESPONSE),
        (bot_schemas.BotOut, examples.BOT_RESPONSE),
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


def test_the_signing_secret_is_optional_but_never_null(document: dict[str, Any]) -> None:
    created = document["components"]["schemas"]["CreatedWebhook"]
    assert "signing_secret" not in created["required"]
    assert created["properties"]["signing_secret"] == {
        **created["properties"]["signing_secret"],
        "$ref": "#/components/schemas/IssuedWebhookSecret",
    }
    assert "default" not in created["properties"]["signing_secret"]
