"""meetings: calendar owners, meetings across calendars, bot rules and overrides

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 15:00:00

Adds `calendars.owner_email` (the calendar user's address, learned at sync: internal/external attendees are told
by its domain), `projects.internal_domains`, `calendar_events.meeting_object_id` (a digest of the event's grouping
key, calsync.sync.meeting_keys), the `meetings` table (written by evaluations, never by a sync), the
`meeting_evaluations` queue, `bot_rules`, `series_bot_overrides`, and `bots.rule_object_id` /
`bots.meeting_object_id` with a partial unique index: one live bot per meeting. Every new column is a plain
ADD COLUMN, nullable, on both databases (no table copy on SQLite, no rewrite on PostgreSQL).
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import calsync.store.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
LIVE_MEETING = sa.text("meeting_object_id IS NOT NULL AND state IN ('scheduled', 'dispatched', 'paused')")


def _time(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, calsync.store.types.UTCDateTime(timezone=True), nullable=nullable)


def _id(table: str) -> list[Any]:
    return [sa.Column("id", BIGINT, autoincrement=True, nullable=False)]


def _project(table: str) -> list[Any]:
    return [
        sa.Column("project_id", BIGINT, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f(f"fk_{table}_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    op.add_column("calendars", sa.Column("owner_email", sa.String(length=320), nullable=True))
    op.add_column("projects", sa.Column("internal_domains", JSON, nullable=True))
    op.add_column("calendar_events", sa.Column("meeting_object_id", sa.String(length=32), nullable=True))
    op.create_index("ix_events_project_meeting", "calendar_events", ["project_id", "meeting_object_id"])

    op.create_table(
        "meetings",
        *_id("meetings"),
        sa.Column("object_id", sa.String(length=32), nullable=False),
        *_project("meetings"),
        sa.Column("name", sa.String(length=1024), nullable=True),
        _time("start_time", nullable=False),
        _time("end_time", nullable=False),
        sa.Column("meeting_url", sa.String(length=2048), nullable=True),
        sa.Column("meeting_platform", sa.String(length=32), nullable=True),
        sa.Column("ical_uid", sa.String(length=1024), nullable=True),
        sa.Column("events", JSON, nullable=False),
        sa.Column("bot_override", sa.String(length=8), nullable=True),
        sa.Column("decision", JSON, nullable=False),
        sa.Column("bot_object_id", sa.String(length=32), nullable=True),
        sa.Column("has_bot", sa.Boolean(), nullable=False),
        _time("created_at", nullable=False),
        _time("updated_at", nullable=False),
        sa.UniqueConstraint("object_id", name=op.f("uq_meetings_object_id")),
    )
    op.create_index("ix_meetings_project_start", "meetings", ["project_id", "start_time", "id"])
    op.create_index("ix_meetings_project_has_bot", "meetings", ["project_id", "has_bot", "start_time", "id"])
    op.create_index("ix_meetings_project_platform", "meetings", ["project_id", "meeting_platform", "start_time", "id"])

    op.create_table(
        "meeting_evaluations",
        *_id("meeting_evaluations"),
        *_project("meeting_evaluations"),
        sa.Column("meeting_object_id", sa.String(length=32), nullable=False),
        sa.Column("rule_object_id", sa.String(length=32), nullable=True),
        _time("created_at", nullable=False),
    )
    op.create_index("ix_meeting_evaluations_rule", "meeting_evaluations", ["rule_object_id"])

    op.create_table(
        "bot_rules",
        *_id("bot_rules"),
        sa.Column("object_id", sa.String(length=32), nullable=False),
        *_project("bot_rules"),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("calendar_ids", JSON, nullable=True),
        sa.Column("calendar_metadata", JSON, nullable=True),
        sa.Column("event_selection", sa.String(length=16), nullable=False),
        sa.Column("participants_gte", sa.Integer(), nullable=True),
        sa.Column("participants_lte", sa.Integer(), nullable=True),
        sa.Column("response", sa.String(length=16), nullable=False),
        sa.Column("exclude_all_day", sa.Boolean(), nullable=False),
        sa.Column("title_include", JSON, nullable=True),
        sa.Column("title_exclude", JSON, nullable=True),
        sa.Column("bot_name", sa.String(length=255), nullable=True),
        sa.Column("metadata", JSON, nullable=True),
        sa.Column("join_offset_seconds", sa.Integer(), nullable=False),
        sa.Column("dispatch_lead_seconds", sa.Integer(), nullable=True),
        sa.Column("evaluation_total", sa.Integer(), nullable=False),
        _time("evaluation_started_at", nullable=True),
        _time("created_at", nullable=False),
        _time("updated_at", nullable=False),
        sa.UniqueConstraint("object_id", name=op.f("uq_bot_rules_object_id")),
    )
    op.create_index("ix_bot_rules_project_created", "bot_rules", ["project_id", "created_at", "id"])

    op.create_table(
        "series_bot_overrides",
        *_id("series_bot_overrides"),
        *_project("series_bot_overrides"),
        sa.Column("calendar_id", BIGINT, nullable=False),
        sa.Column("recurring_event_id", sa.String(length=1024), nullable=False),
        sa.Column("bot_override", sa.String(length=8), nullable=False),
        _time("created_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["calendars.id"],
            name=op.f("fk_series_bot_overrides_calendar_id_calendars"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "calendar_id", "recurring_event_id", name=op.f("uq_series_bot_overrides_calendar_id_recurring_event_id")
        ),
    )

    op.add_column("bots", sa.Column("rule_object_id", sa.String(length=32), nullable=True))
    op.add_column("bots", sa.Column("meeting_object_id", sa.String(length=32), nullable=True))
    op.create_index("ix_bots_meeting", "bots", ["meeting_object_id"])
    op.create_index(
        "uq_bots_live_meeting",
        "bots",
        ["meeting_object_id"],
        unique=True,
        sqlite_where=LIVE_MEETING,
        postgresql_where=LIVE_MEETING,
    )


def downgrade() -> None:
    op.drop_index("uq_bots_live_meeting", table_name="bots")
    op.drop_index("ix_bots_meeting", table_name="bots")
    with op.batch_alter_table("bots", schema=None) as batch_op:
        batch_op.drop_column("meeting_object_id")
        batch_op.drop_column("rule_object_id")
    op.drop_table("series_bot_overrides")
    op.drop_table("bot_rules")
    op.drop_table("meeting_evaluations")
    op.drop_table("meetings")
    op.drop_index("ix_events_project_meeting", table_name="calendar_events")
    with op.batch_alter_table("calendar_events", schema=None) as batch_op:
        batch_op.drop_column("meeting_object_id")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("internal_domains")
    with op.batch_alter_table("calendars", schema=None) as batch_op:
        batch_op.drop_column("owner_email")
