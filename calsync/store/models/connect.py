"""Hosted connect (docs/connect.md): a project's OAuth apps and allowed return URLs, and the connect sessions that
take an end user through a platform's consent screen to a calendar."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from calsync.store.models.base import Base
from calsync.store.types import BigIntPK, JSONType, UTCDateTime


class ConnectSettings(Base):
    """One row per project that configured hosted connect. Client secrets are Fernet tokens (the context's
    secret box, like refresh tokens) and never leave the service."""

    __tablename__ = "connect_settings"

    project_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    google_client_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    google_encrypted_secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    microsoft_client_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    microsoft_encrypted_secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # Where a finished session may send the browser: compared as whole strings, never as prefixes.
    return_urls: Mapped[list[Any]] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ConnectSession(Base):
    """One end user's way through the hosted pages: opened once (its launch token is then spent), bound to that
    browser by a signed cookie, then to the platform by `oauth_state` and an encrypted PKCE verifier."""

    __tablename__ = "connect_sessions"
    __table_args__ = (Index("ix_connect_sessions_project_created", "project_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    object_id: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    # SHA-256 of the secret in the session's URL: a leaked database does not open sessions.
    launch_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    platform: Mapped[str | None] = mapped_column(String(16), nullable=True)  # asked for; None: the user chooses
    return_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType, nullable=True)
    deduplication_key: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    client_state: Mapped[str | None] = mapped_column(Text, nullable=True)  # the application's opaque `state`
    # pending -> opened -> authorizing -> completed | failed
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(String(32), nullable=True)
    calendar_object_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    chosen_platform: Mapped[str | None] = mapped_column(String(16), nullable=True)
    browser_nonce: Mapped[str | None] = mapped_column(String(64), nullable=True)
    oauth_state: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    encrypted_verifier: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
