"""Meetings (one real meeting across a project's calendars), the queue of meetings to re-evaluate, bot rules and
series overrides (calsync.meetings, docs/bots.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from calsync.store.models.base import Base
from calsync.store.types import BigIntPK, JSONType, UTCDateTime


class Meeting(Base):
    """A meeting's row is written by its evaluation (calsync.meetings.evaluate), never by a sync: the sync only
    stamps each event's `meeting_object_id` (a digest of its grouping key) and queues the meetings it touched."""

    __tablename__ = "meetings"
    __table_args__ = (
        # The list, by start time, and its filters: each one index range in (column, start_time, id) order.
        Index("ix_meetings_project_start", "project_id", "start_time", "id"),
        Index("ix_meetings_project_has_bot", "project_id", "has_bot", "start_time", "id"),
        Index("ix_meetings_project_platform", "project_id", "meeting_platform", "start_time", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    object_id: Mapped[str] = mapped_column(String(32), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    # Of its representative member (the organizer's copy, else the oldest): members may differ (docs/bots.md).
    name: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    start_time: Mapped[datetime] = mapped_column(UTCDateTime())
    end_time: Mapped[datetime] = mapped_column(UTCDateTime())
    meeting_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    meeting_platform: Mapped[str | None] = mapped_column(String(32), nullable=True)
    ical_uid: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    # [{event_id, calendar_id, response_status}] of its live member events, as of its last evaluation.
    events: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    bot_override: Mapped[str | None] = mapped_column(String(8), nullable=True)  # always | never
    # {bot, rule_id, override, reasons: [{rule_id, code}]} (calsync.meetings.decide).
    decision: Mapped[dict[str, Any]] = mapped_column(JSONType)
    bot_object_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # the live bot serving it
    has_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MeetingEvaluation(Base):
    """A meeting to (re-)evaluate: written by the sync page that touched it (insert only: no lock on any meeting)
    and by rule changes; claimed in id order by the evaluation loop (SKIP LOCKED) and deleted when done."""

    __tablename__ = "meeting_evaluations"
    __table_args__ = (Index("ix_meeting_evaluations_rule", "rule_object_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    meeting_object_id: Mapped[str] = mapped_column(String(32))
    # The rule whose change queued it: the rule's progress is the count of its rows left.
    rule_object_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MeetingScanCursor(Base):
    """How far the meeting evaluation has read a project's event changes (calsync.meetings.scan): the meetings of
    events whose `change_seq` is above it are still to be evaluated."""

    __tablename__ = "meeting_scan_cursors"

    project_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    change_seq: Mapped[int] = mapped_column(BigInteger)


class BotRule(Base):
    __tablename__ = "bot_rules"
    __table_args__ = (Index("ix_bot_rules_project_created", "project_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    object_id: Mapped[str] = mapped_column(String(32), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    calendar_ids: Mapped[list[str] | None] = mapped_column(JSONType, nullable=True)
    calendar_metadata: Mapped[dict[str, str] | None] = mapped_column(JSONType, nullable=True)
    event_selection: Mapped[str] = mapped_column(String(16))
    participants_gte: Mapped[int | None] = mapped_column(Integer, nullable=True)
    participants_lte: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response: Mapped[str] = mapped_column(String(16))
    exclude_all_day: Mapped[bool] = mapped_column(Boolean, default=True)
    title_include: Mapped[list[str] | None] = mapped_column(JSONType, nullable=True)
    title_exclude: Mapped[list[str] | None] = mapped_column(JSONType, nullable=True)
    bot_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    metadata_: Mapped[dict[str, str] | None] = mapped_column("metadata", JSONType, nullable=True)
    join_offset_seconds: Mapped[int] = mapped_column(Integer, default=0)
    dispatch_lead_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The re-evaluation its last change queued: how many meetings (its progress is read from the queue).
    evaluation_total: Mapped[int] = mapped_column(Integer, default=0)
    evaluation_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SeriesOverride(Base):
    """`always`/`never` for every instance of a recurring series on one calendar, now and as instances sync."""

    __tablename__ = "series_bot_overrides"
    __table_args__ = (UniqueConstraint("calendar_id", "recurring_event_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id", ondelete="CASCADE"))
    recurring_event_id: Mapped[str] = mapped_column(String(1024))
    bot_override: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
