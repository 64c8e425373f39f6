from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from calsync.store.models.base import Base
from calsync.store.types import BigIntPK, JSONType, UTCDateTime


class CalendarState(enum.StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


# The calendars an operator should look at (disconnected, last sync failed, push failing), as the dashboard's
# attention filter states it on each database (calsync.dashboard.queries.needs_attention): a partial index holds
# only them, so that listing them never walks the healthy ones.
NEEDS_ATTENTION = {
    "postgresql": "state = 'disconnected' OR COALESCE(CAST(last_sync_error AS VARCHAR), 'null') <> 'null'"
    " OR push_state = 'failing'",
    "sqlite": "state = 'disconnected' OR last_sync_error != 'null' OR push_state = 'failing'",
}


class Calendar(Base):
    """A user's calendar handed to us by an application, with everything the sync engine needs to keep
    it mirrored. The "work due" columns (`sync_due_at`, lease) make the database the only queue."""

    __tablename__ = "calendars"
    __table_args__ = (
        # NULL keys never collide (both databases treat NULLs as distinct), matching Attendee.
        UniqueConstraint("project_id", "deduplication_key"),
        Index("ix_calendars_project_created", "project_id", "created_at", "id"),
        Index("ix_calendars_project_state", "project_id", "state", "created_at", "id"),
        Index("ix_calendars_project_platform", "project_id", "platform", "created_at", "id"),
        Index("ix_calendars_due", "sync_due_at"),
        Index("ix_calendars_oauth_client", "platform", "client_id"),
        Index(
            "ix_calendars_project_attention",
            "project_id",
            "created_at",
            "id",
            postgresql_where=text(NEEDS_ATTENTION["postgresql"]),
            sqlite_where=text(NEEDS_ATTENTION["sqlite"]),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    object_id: Mapped[str] = mapped_column(String(32), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default=CalendarState.CONNECTED.value)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType, nullable=True)
    deduplication_key: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    client_id: Mapped[str] = mapped_column(String(255))
    platform_uuid: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    # Identifies the user's grant (digest of client id + the refresh token first handed over), so calendars of
    # one mailbox share the platform's per-mailbox concurrency limit. Kept across refresh-token rotation.
    account_key: Mapped[str] = mapped_column(String(64), default="")
    # The calendar user's email (Google: the calendar id or the events' `self` attendee; Graph: the calendar's
    # owner), learned at sync: meetings' rules tell internal from external attendees and own events by it.
    owner_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    # Fernet token over {"client_secret", "refresh_token"} (MultiFernet: rotation-ready).
    encrypted_credentials: Mapped[bytes] = mapped_column(LargeBinary)
    connection_failure_data: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_successful_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_attempted_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Non-disconnecting failures are shown here instead of going silent: {"code", "error", "timestamp"}.
    last_sync_error: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)

    # Work scheduling (see docs/architecture.md): due time, why, and who holds it.
    sync_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sync_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)

    # Incremental sync state.
    sync_cursor: Mapped[str | None] = mapped_column(Text, nullable=True)
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_full_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_full_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_drift_count: Mapped[int | None] = mapped_column(Integer, nullable=True)

    # Access token cache shared by every worker (encrypted like the credentials).
    encrypted_access_token: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    access_token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # When the cached token was obtained: a refresh shows the grant was alive then (calsync.sync.schedule).
    access_token_refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # When the check window of the calendar's next meeting opens: from then on a sync refreshes the access token
    # unless it was refreshed since (calsync.sync.tokens), so a revoked grant is noticed before the dispatch.
    meeting_check_opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    # Push channel state: "none" (no public URL), "active", "failing".
    push_state: Mapped[str] = mapped_column(String(16), default="none")
    push_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Set by DELETE when remote push channels must still be stopped: the calendar is gone for the API at once,
    # and a worker stops its channels (it still has the credentials) and then removes the row.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
