"""Meeting bots: what calsync schedules and dispatches to the application's bot runner (calsync.bots).

A bot row is also its own dispatch job: `dispatch_due_at` is its due time while it is `scheduled` (NULL in every
other state), so the dispatch loop finds due bots by one index range, as the other work loops do.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from calsync.store.models.base import Base
from calsync.store.types import BigIntPK, JSONType, UTCDateTime


class BotState(enum.StrEnum):
    SCHEDULED = "scheduled"
    DISPATCHED = "dispatched"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    FAILED = "failed"


# A bot in one of these holds its deduplication key (Attendee: unique among bots that have not ended).
LIVE_STATES = (BotState.SCHEDULED.value, BotState.DISPATCHED.value, BotState.PAUSED.value)
_LIVE = "state IN ('scheduled', 'dispatched', 'paused')"
_LIVE_MEETING = f"meeting_object_id IS NOT NULL AND {_LIVE}"


class Bot(Base):
    __tablename__ = "bots"
    __table_args__ = (
        # The dispatch claim: due bots in due order (bots not scheduled have NULL and fall outside the range).
        Index("ix_bots_dispatch_due", "dispatch_due_at"),
        # The bots of a page's changed events (the sync's event-following), and the events API's `bots` arrays.
        Index("ix_bots_event", "event_id"),
        # A calendar's bots on disconnect, reconnect and delete (and ON DELETE SET NULL).
        Index("ix_bots_calendar_state", "calendar_id", "state"),
        # Attendee's rule: a deduplication key is unique among the project's bots that have not ended.
        Index(
            "uq_bots_project_live_deduplication_key",
            "project_id",
            "deduplication_key",
            unique=True,
            sqlite_where=text(_LIVE),
            postgresql_where=text(_LIVE),
        ),
        # One bot per meeting: a rule's bot is unique among the live bots of its meeting (calsync.meetings).
        Index(
            "uq_bots_live_meeting",
            "meeting_object_id",
            unique=True,
            sqlite_where=text(_LIVE_MEETING),
            postgresql_where=text(_LIVE_MEETING),
        ),
        # A meeting's bots in every state: its evaluation revives or moves its bot rather than make another.
        Index("ix_bots_meeting", "meeting_object_id"),
        # The list and its filters, each one index range in (column, id) order.
        Index("ix_bots_project_created", "project_id", "created_at", "id"),
        Index("ix_bots_project_join_at", "project_id", "join_at", "id"),
        Index("ix_bots_project_state", "project_id", "state", "created_at", "id"),
        Index("ix_bots_project_calendar", "project_id", "calendar_object_id", "created_at", "id"),
        Index("ix_bots_project_event", "project_id", "event_object_id", "created_at", "id"),
        Index("ix_bots_project_deduplication_key", "project_id", "deduplication_key", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    object_id: Mapped[str] = mapped_column(String(32), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    # The event a bot follows, and its calendar. Nothing is silently deleted: when the calendar (and with it the
    # event) is deleted, the bot stays (cancelled) and keeps the public ids it had.
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("calendars.id", ondelete="SET NULL"), nullable=True)
    calendar_object_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("calendar_events.id", ondelete="SET NULL"), nullable=True)
    event_object_id: Mapped[str | None] = mapped_column(String(32), nullable=True)

    # A bot created by a rule (calsync.meetings) serves a meeting: it may move between the meeting's events.
    rule_object_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    meeting_object_id: Mapped[str | None] = mapped_column(String(32), nullable=True)

    state: Mapped[str] = mapped_column(String(16))
    # {"code", "message"} of the last transition; NULL for a bot that has not changed state since it was created.
    state_reason: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    bot_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType, nullable=True)
    deduplication_key: Mapped[str | None] = mapped_column(String(1024), nullable=True)

    meeting_url: Mapped[str] = mapped_column(String(2048))
    join_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # join_at - dispatch_lead_seconds: when the runner is told to launch the bot.
    dispatch_at: Mapped[datetime] = mapped_column(UTCDateTime())
    join_offset_seconds: Mapped[int] = mapped_column(Integer, default=0)
    dispatch_lead_seconds: Mapped[int] = mapped_column(Integer)
    # The dispatch loop's due time: dispatch_at while scheduled, NULL otherwise.
    dispatch_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Strictly increasing per bot (each write stamps max(now, previous + 1 µs)): a runner can drop a webhook whose
    # `data.bot.updated_at` is older than one it already acted on (deliveries are at least once, in any order).
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
