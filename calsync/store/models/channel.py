from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from calsync.store.models.base import Base
from calsync.store.types import BigIntPK, UTCDateTime


class PushChannel(Base):
    """A Google watch channel or a Graph subscription that we opened for a calendar."""

    __tablename__ = "push_channels"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    # Google channel id (ours) or Graph subscription id (theirs).
    channel_id: Mapped[str] = mapped_column(String(255), unique=True)
    resource_id: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    # SHA-256 of the channel token / clientState; compared in constant time on every notification.
    token_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_notification_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # "active", or "stopping": replaced/unwanted and to be stopped remotely by a worker.
    status: Mapped[str] = mapped_column(String(16), default="active")
