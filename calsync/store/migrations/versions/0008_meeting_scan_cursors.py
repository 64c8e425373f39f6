"""meetings found from event changes: a read cursor per project instead of a queue row per synced event

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 18:15:00

A sync page no longer queues the meetings of the events it writes: the evaluation reads the project's event changes
past its cursor (`calendar_events.change_seq`, already indexed per project). Projects that exist now start at their
current `change_seq`: the meetings of their events were queued by the code before this revision (those queue rows
stay and are evaluated as before).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_INT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "meeting_scan_cursors",
        sa.Column("project_id", BIG_INT_PK, autoincrement=False, nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id"),
    )
    op.execute("INSERT INTO meeting_scan_cursors (project_id, change_seq) SELECT id, change_seq FROM projects")


def downgrade() -> None:
    op.drop_table("meeting_scan_cursors")
