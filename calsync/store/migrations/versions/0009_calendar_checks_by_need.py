"""checks by need: when a calendar's access token was refreshed, and when its next meeting's check window opens

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 14:45:00

Adds `calendars.access_token_refreshed_at` and `calendars.meeting_check_opens_at` (calsync.sync.schedule: a
calendar with a meeting coming up is checked, with a refreshed token, shortly before the meeting's dispatch). Both
start NULL: existing calendars get them at their next sync, and a NULL refresh time only makes the next meeting
check refresh its token. Neither is queried on its own, so neither is indexed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import calsync.store.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calendars") as batch_op:
        for name in ("access_token_refreshed_at", "meeting_check_opens_at"):
            batch_op.add_column(sa.Column(name, calsync.store.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calendars") as batch_op:
        batch_op.drop_column("meeting_check_opens_at")
        batch_op.drop_column("access_token_refreshed_at")
