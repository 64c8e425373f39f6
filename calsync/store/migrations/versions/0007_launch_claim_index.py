"""bot launches claimed first: a partial index of due `bot.dispatch` deliveries

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 15:40:00

The delivery claim takes due `bot.dispatch` rows before any other (calsync.webhooks.claims.claim_due). This index
holds only those rows, in due order, so finding them costs nothing however long the other backlog is.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LAUNCHES = sa.text("trigger = 'bot.dispatch'")


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch_op:
        batch_op.create_index(
            "ix_webhook_deliveries_due_launches",
            ["next_attempt_at", "id"],
            unique=False,
            postgresql_where=LAUNCHES,
            sqlite_where=LAUNCHES,
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_due_launches")
