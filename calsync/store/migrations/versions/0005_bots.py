"""bots: meeting bots tied to calendar events, and bot webhooks in the outbox

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 11:30:27

Adds the `bots` table (calsync.store.models.bot: a bot is also its own dispatch job, due at `dispatch_due_at`
while scheduled) and `webhook_deliveries.bot_object_id` (the bot of a `bot.*` delivery, and the delivery log's
filter by bot). The deduplication key is unique among a project's live bots only (scheduled, dispatched, paused):
a partial unique index, which both databases support.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import calsync.store.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
LIVE = sa.text("state IN ('scheduled', 'dispatched', 'paused')")


def _time(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, calsync.store.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "bots",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("object_id", sa.String(length=32), nullable=False),
        sa.Column("project_id", BIGINT, nullable=False),
        sa.Column("calendar_id", BIGINT, nullable=True),
        sa.Column("calendar_object_id", sa.String(length=32), nullable=True),
        sa.Column("event_id", BIGINT, nullable=True),
        sa.Column("event_object_id", sa.String(length=32), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_reason", JSON, nullable=True),
        sa.Column("bot_name", sa.String(length=255), nullable=True),
        sa.Column("metadata", JSON, nullable=True),
        sa.Column("deduplication_key", sa.String(length=1024), nullable=True),
        sa.Column("meeting_url", sa.String(length=2048), nullable=False),
        _time("join_at", nullable=False),
        _time("dispatch_at", nullable=False),
        sa.Column("join_offset_seconds", sa.Integer(), nullable=False),
        sa.Column("dispatch_lead_seconds", sa.Integer(), nullable=False),
        _time("dispatch_due_at", nullable=True),
        _time("dispatched_at", nullable=True),
        _time("created_at", nullable=False),
        _time("updated_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"], ["calendars.id"], name=op.f("fk_bots_calendar_id_calendars"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["calendar_events.id"], name=op.f("fk_bots_event_id_calendar_events"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_bots_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bots")),
        sa.UniqueConstraint("object_id", name=op.f("uq_bots_object_id")),
    )
    op.create_index("ix_bots_dispatch_due", "bots", ["dispatch_due_at"])
    op.create_index("ix_bots_event", "bots", ["event_id"])
    op.create_index("ix_bots_calendar_state", "bots", ["calendar_id", "state"])
    op.create_index(
        "uq_bots_project_live_deduplication_key",
        "bots",
        ["project_id", "deduplication_key"],
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )
    op.create_index("ix_bots_project_created", "bots", ["project_id", "created_at", "id"])
    op.create_index("ix_bots_project_join_at", "bots", ["project_id", "join_at", "id"])
    op.create_index("ix_bots_project_state", "bots", ["project_id", "state", "created_at", "id"])
    op.create_index("ix_bots_project_calendar", "bots", ["project_id", "calendar_object_id", "created_at", "id"])
    op.create_index("ix_bots_project_event", "bots", ["project_id", "event_object_id", "created_at", "id"])
    op.create_index(
        "ix_bots_project_deduplication_key", "bots", ["project_id", "deduplication_key", "created_at", "id"]
    )

    # A plain ADD COLUMN on both databases (no table copy on SQLite).
    op.add_column("webhook_deliveries", sa.Column("bot_object_id", sa.String(length=32), nullable=True))
    op.create_index(
        "ix_webhook_deliveries_sub_bot", "webhook_deliveries", ["subscription_id", "bot_object_id", "created_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_sub_bot", table_name="webhook_deliveries")
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_column("bot_object_id")
    op.drop_table("bots")
