"""Customer webhooks: subscriptions, per-project signing secrets, and the delivery outbox with its attempt log.

The outbox row *is* the job: `next_attempt_at` is its due time (NULL once it is finished), and a worker that
claims it sets `lease_owner`/`lease_expires_at` and moves `next_attempt_at` to the lease expiry, so a delivery
whose worker died becomes due again by the same index range as any other (see calsync.webhooks.claims).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from calsync.store.models.base import Base
from calsync.store.types import BigIntPK, JSONType, UTCDateTime


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERING = "delivering"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WebhookSubscription(Base):
    """A project-level endpoint (Attendee's `bot IS NULL` webhook) with its delivery health."""

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (Index("ix_webhook_subscriptions_project_created", "project_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    object_id: Mapped[str] = mapped_column(String(32), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    triggers: Mapped[list[str]] = mapped_column(JSONType)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    # Health (see calsync.webhooks.health): a failure streak turns into "failing" only when it lasts.
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    failure_streak_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WebhookSecret(Base):
    """A project's HMAC key, Fernet-encrypted. Several are active during a rotation; the newest signs
    `X-Webhook-Signature`, all active ones sign `webhook-signature`."""

    __tablename__ = "webhook_secrets"
    __table_args__ = (Index("ix_webhook_secrets_project_created", "project_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    object_id: Mapped[str] = mapped_column(String(32), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    encrypted_secret: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Set on the previous secrets when a new one is created; NULL = active until deleted.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WebhookDelivery(Base):
    """One row per subscription and trigger occurrence: the outbox row, written in the transaction of the change."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The claim query: due rows in due order (finished rows have NULL and fall outside the range).
        Index("ix_webhook_deliveries_due", "next_attempt_at"),
        # Bot launches are claimed before everything else (calsync.webhooks.claims): their due rows alone.
        Index(
            "ix_webhook_deliveries_due_launches",
            "next_attempt_at",
            "id",
            postgresql_where=text("trigger = 'bot.dispatch'"),
            sqlite_where=text("trigger = 'bot.dispatch'"),
        ),
        # The delivery log and its filters, each one index range in (created_at, id) order.
        Index("ix_webhook_deliveries_sub_created", "subscription_id", "created_at", "id"),
        Index("ix_webhook_deliveries_sub_status", "subscription_id", "status", "created_at", "id"),
        Index("ix_webhook_deliveries_sub_trigger", "subscription_id", "trigger", "created_at", "id"),
        Index("ix_webhook_deliveries_sub_calendar", "subscription_id", "calendar_object_id", "created_at", "id"),
        Index("ix_webhook_deliveries_sub_bot", "subscription_id", "bot_object_id", "created_at", "id"),
        # For ON DELETE SET NULL when a calendar is deleted.
        Index("ix_webhook_deliveries_calendar", "calendar_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    object_id: Mapped[str] = mapped_column(String(32), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"))
    # uuid4; the envelope's `idempotency_key` and the `webhook-id` header, identical on every retry.
    idempotency_key: Mapped[str] = mapped_column(String(36), unique=True)
    trigger: Mapped[str] = mapped_column(String(64))
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("calendars.id", ondelete="SET NULL"), nullable=True)
    # Captured at trigger time: the log stays filterable by calendar after the calendar is deleted.
    calendar_object_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The bot of a `bot.*` trigger (the envelope's `bot_id`; its metadata is read when the envelope is built). No
    # foreign key: bots are never deleted, and an insert here must not wait for the lock of a bot being changed.
    bot_object_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Due time; NULL exactly when the status is succeeded or failed.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The retry horizon runs from here: creation, or the last manual retry.
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WebhookDeliveryAttempt(Base):
    """One HTTP attempt of a delivery (or one refusal before any request was made)."""

    __tablename__ = "webhook_delivery_attempts"
    __table_args__ = (Index("ix_webhook_delivery_attempts_delivery", "delivery_id", "attempted_at", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_excerpt: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[float] = mapped_column(Float)
