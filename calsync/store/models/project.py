from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from calsync.store.models.base import Base
from calsync.store.types import BigIntPK, JSONType, UTCDateTime


class Project(Base):
    """A tenant. Every API key, calendar and webhook belongs to exactly one project."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    object_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The project's change clock on SQLite, whose writers run one at a time: every write of events stamps
    # `updated_at` and numbers its rows from here. PostgreSQL leaves both alone (calsync.store.change_horizon).
    events_clock: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    change_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # Email domains counted as internal besides each calendar owner's own (bot rules' internal/external).
    internal_domains: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)
