"""meetings: calendar owners, meetings across calendars, bot rules and overrides

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 15:00:00

Adds `calendars.owner_email` (the calendar user's address, learned at sync: internal/external attendees are told
by its domain).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("calendars", sa.Column("owner_email", sa.String(length=320), nullable=True))


def downgrade() -> None:
    op.drop_column("calendars", "owner_email")
