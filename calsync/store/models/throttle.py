from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from calsync.store.models.base import Base
from calsync.store.types import UTCDateTime


class OAuthClientThrottle(Base):
    """Platform quotas are per OAuth client (the application's project): when one calendar is throttled, every
    calendar of that client waits until `throttled_until`."""

    __tablename__ = "oauth_client_throttles"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    throttled_until: Mapped[datetime] = mapped_column(UTCDateTime())
