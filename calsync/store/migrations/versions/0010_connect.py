"""hosted connect: a project's OAuth apps and return URLs, and connect sessions

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 15:00:00

Two new tables (calsync.store.models.connect); nothing existing changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import calsync.store.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_INT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, calsync.store.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "connect_settings",
        sa.Column("project_id", BIG_INT_PK, autoincrement=False, nullable=False),
        sa.Column("google_client_id", sa.String(length=255), nullable=True),
        sa.Column("google_encrypted_secret", sa.LargeBinary(), nullable=True),
        sa.Column("microsoft_client_id", sa.String(length=255), nullable=True),
        sa.Column("microsoft_encrypted_secret", sa.LargeBinary(), nullable=True),
        sa.Column("return_urls", JSON_TYPE, nullable=False),
        _time("updated_at"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_connect_settings_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_connect_settings")),
    )
    op.create_table(
        "connect_sessions",
        sa.Column("id", BIG_INT_PK, autoincrement=True, nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", BIG_INT_PK, nullable=False),
        sa.Column("launch_token_hash", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=True),
        sa.Column("return_url", sa.Text(), nullable=True),
        sa.Column("metadata", JSON_TYPE, nullable=True),
        sa.Column("deduplication_key", sa.String(length=1024), nullable=True),
        sa.Column("client_state", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=32), nullable=True),
        sa.Column("calendar_object_id", sa.String(length=32), nullable=True),
        sa.Column("chosen_platform", sa.String(length=16), nullable=True),
        sa.Column("browser_nonce", sa.String(length=64), nullable=True),
        sa.Column("oauth_state", sa.String(length=64), nullable=True),
        sa.Column("encrypted_verifier", sa.LargeBinary(), nullable=True),
        _time("created_at"),
        _time("expires_at"),
        _time("opened_at", True),
        _time("finished_at", True),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_connect_sessions_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connect_sessions")),
        sa.UniqueConstraint("object_id", name=op.f("uq_connect_sessions_object_id")),
        sa.UniqueConstraint("launch_token_hash", name=op.f("uq_connect_sessions_launch_token_hash")),
        sa.UniqueConstraint("oauth_state", name=op.f("uq_connect_sessions_oauth_state")),
    )
    op.create_index("ix_connect_sessions_project_created", "connect_sessions", ["project_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_connect_sessions_project_created", table_name="connect_sessions")
    op.drop_table("connect_sessions")
    op.drop_table("connect_settings")
