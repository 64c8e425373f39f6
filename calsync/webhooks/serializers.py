"""Webhook resources as JSON (timestamps as the rest of the API prints them)."""

from __future__ import annotations

from typing import Any

from calsync.store.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookSecret, WebhookSubscription
from calsync.webhooks.health import health_json
from calsync.webhooks.payloads import format_timestamp as iso
from calsync.webhooks.secret_store import fingerprint
from calsync.webhooks.signing import secret_to_base64, secret_to_whsec


def webhook_json(subscription: WebhookSubscription) -> dict[str, Any]:
    return {
        "id": subscription.object_id,
        "url": subscription.url,
        "triggers": list(subscription.triggers),
        "is_active": subscription.is_active,
        "created_at": iso(subscription.created_at),
        "updated_at": iso(subscription.updated_at),
        "health": health_json(subscription),
    }


def secret_metadata_json(row: WebhookSecret, secret: bytes, *, is_primary: bool) -> dict[str, Any]:
    return {
        "id": row.object_id,
        "fingerprint": fingerprint(secret),
        "is_primary": is_primary,
        "created_at": iso(row.created_at),
        "expires_at": iso(row.expires_at),
    }


def issued_secret_json(row: WebhookSecret, secret: bytes) -> dict[str, Any]:
    """The only response that ever carries the key itself."""
    return {
        **secret_metadata_json(row, secret, is_primary=True),
        "secret": secret_to_base64(secret),
        "secret_whsec": secret_to_whsec(secret),
    }


def attempt_json(attempt: WebhookDeliveryAttempt) -> dict[str, Any]:
    return {
        "attempted_at": iso(attempt.attempted_at),
        "status_code": attempt.status_code,
        "response_excerpt": attempt.response_excerpt,
        "error": attempt.error,
        "duration_ms": attempt.duration_ms,
    }


def delivery_json(
    delivery: WebhookDelivery, webhook_object_id: str, attempts: list[WebhookDeliveryAttempt] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": delivery.object_id,
        "webhook_id": webhook_object_id,
        "idempotency_key": delivery.idempotency_key,
        "trigger": delivery.trigger,
        "calendar_id": delivery.calendar_object_id,
        "bot_id": delivery.bot_object_id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "created_at": iso(delivery.created_at),
        "next_attempt_at": iso(delivery.next_attempt_at),
        "last_attempt_at": iso(delivery.last_attempt_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "delivered_at": iso(delivery.delivered_at),
        "data": delivery.data,
    }
    if attempts is not None:
        body["attempt_log"] = [attempt_json(a) for a in attempts]
    return body
