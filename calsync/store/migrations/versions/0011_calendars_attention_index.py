"""the calendars that need attention: a partial index in the calendar list's order

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 18:05:00

The dashboard lists the calendars an operator should look at (disconnected, last sync failed, push failing) newest
first, on the overview and under the calendar list's attention filter. Without an index that holds only them,
that list walks every healthy calendar of the project to find the few that are not. The predicate is the filter
as each database's query states it (calsync.dashboard.queries.needs_attention), so both planners can prove the
index applies.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRESQL = (
    "state = 'disconnected' OR COALESCE(CAST(last_sync_error AS VARCHAR), 'null') <> 'null' OR push_state = 'failing'"
)
SQLITE = "state = 'disconnected' OR last_sync_error != 'null' OR push_state = 'failing'"


def upgrade() -> None:
    with op.batch_alter_table("calendars") as batch_op:
        batch_op.create_index(
            "ix_calendars_project_attention",
            ["project_id", "created_at", "id"],
            unique=False,
            postgresql_where=sa.text(POSTGRESQL),
            sqlite_where=sa.text(SQLITE),
        )


def downgrade() -> None:
    with op.batch_alter_table("calendars") as batch_op:
        batch_op.drop_index("ix_calendars_project_attention")
