"""Response bodies of `/api/v1/webhooks`, `/api/v1/webhook_secret` and `/api/v1/webhook_deliveries`, for the OpenAPI
document: exactly what calsync.webhooks.serializers renders (the handlers return those dicts as they are).
Timestamps are strings in the API's one format (`2025-01-13T10:30:00.123456Z`), as in every other response."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from calsync.api import examples
from calsync.api.schemas import ResponseModel

# calsync.webhooks.payloads.TRIGGERS and calsync.store.models.webhook.DeliveryStatus, spelled out for the type
# checker and the document (tests/api/test_response_models.py holds them equal).
Trigger = Literal[
    "calendar.events_update",
    "calendar.state_change",
    "bot.dispatch",
    "bot.updated",
    "bot.state_change",
    "connect_session.completed",
    "connect_session.failed",
]
DeliveryStatus = Literal["pending", "delivering", "succeeded", "failed"]


class WebhookHealth(BaseModel):
    state: Literal["healthy", "failing"] = Field(
        description="failing: deliveries have failed repeatedly for 30 minutes; one success makes it healthy"
    )
    failing_since: str | None
    consecutive_failures: int
    last_error: str | None
    last_failure_at: str | None
    last_success_at: str | None


class WebhookOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [examples.WEBHOOK_RESPONSE]})

    id: str
    url: str
    triggers: list[Trigger]
    is_active: bool
    created_at: str
    updated_at: str
    health: WebhookHealth


class PaginatedWebhookList(BaseModel):
    next: str | None
    previous: str | None
    results: list[WebhookOut]


class WebhookSecretOut(BaseModel):
    """A signing secret's metadata (never the key itself)."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.WEBHOOK_SECRET_RESPONSE]})

    id: str
    fingerprint: str = Field(description="The first 12 hex digits of the key's SHA-256: which key a receiver holds")
    is_primary: bool = Field(description="The newest secret, the one `X-Webhook-Signature` is made with")
    created_at: str
    expires_at: str | None = Field(description="When a previous secret stops signing; null for the newest")


class WebhookSecretList(BaseModel):
    secrets: list[WebhookSecretOut] = Field(description="Newest first")


class IssuedWebhookSecret(WebhookSecretOut):
    """A new signing secret: the only response that carries the key, shown this once."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.ISSUED_WEBHOOK_SECRET_RESPONSE]})

    secret: str = Field(description="The key, base64 (as Attendee shows it)")
    secret_whsec: str = Field(description="The key as Standard Webhooks libraries take it: `whsec_` + base64")


class CreatedWebhook(WebhookOut, ResponseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**examples.WEBHOOK_RESPONSE, "signing_secret": examples.ISSUED_WEBHOOK_SECRET_RESPONSE}]
        }
    )

    # Present only when this webhook is the project's first: it created the signing secret, shown once here.
    signing_secret: IssuedWebhookSecret | SkipJsonSchema[None] = Field(
        default=None, description="The project's new signing secret: only in the response of its first webhook"
    )


class WebhookDeliveryOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [examples.WEBHOOK_DELIVERY_RESPONSE]})

    id: str
    webhook_id: str
    idempotency_key: str = Field(description="The `webhook-id` header and the envelope's key, the same on retries")
    trigger: Trigger
    calendar_id: str | None
    bot_id: str | None
    status: DeliveryStatus
    attempts: int
    created_at: str
    next_attempt_at: str | None = Field(description="When it is due; null once it succeeded or failed")
    last_attempt_at: str | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: str | None
    data: dict[str, Any] = Field(description="The `data` of the envelope delivered (docs/webhooks.md)")


class PaginatedWebhookDeliveryList(BaseModel):
    next: str | None
    previous: str | None
    results: list[WebhookDeliveryOut]


class WebhookAttemptOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [examples.WEBHOOK_ATTEMPT_RESPONSE]})

    attempted_at: str
    status_code: int | None = Field(description="The receiver's status; null when no response was received")
    response_excerpt: str
    error: str | None
    duration_ms: float


class WebhookDeliveryDetail(WebhookDeliveryOut):
    """One delivery with its latest attempts."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**examples.WEBHOOK_DELIVERY_RESPONSE, "attempt_log": [examples.WEBHOOK_ATTEMPT_RESPONSE]}]
        }
    )

    attempt_log: list[WebhookAttemptOut]
