"""event query indexes: the events running at a point in time, and a covering updated_at index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 03:50:00

Adds `calendar_events.span_class` (calsync.store.duration_classes) and its index. Existing rows get their class
from their stored times, computed exactly (integer microseconds on SQLite). `ix_events_project_updated_at`
gains `created_at, start_time, end_time, is_deleted` after its id (same order), so that walks along it test the
filters on the index alone and `ModifiedSplit` (calsync.store.queries.events) reads it index-only. The limits are written out here
rather than imported: a migration must keep meaning what it meant when it shipped.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# calsync.store.duration_classes.CLASS_LIMITS at this revision, in seconds; the class after the last is unbounded.
LIMITS_SECONDS = (1800, 3600, 7200, 14400, 28800, 93600, 259200, 691200, 2764800, 31708800)
UNBOUNDED = len(LIMITS_SECONDS)

# Stored text is "YYYY-MM-DD HH:MM:SS.ffffff" (calsync.store.types.UTCDateTime): whole seconds by strftime of the
# text without its fraction (strftime rounds a fraction to milliseconds, so '%s' of ":58.9995" is 59), microseconds
# from the text, so the length is exact.
SQLITE_LENGTH_US = (
    "((CAST(strftime('%s', substr(end_time, 1, 19)) AS INTEGER)"
    " - CAST(strftime('%s', substr(start_time, 1, 19)) AS INTEGER)) * 1000000"
    " + CAST(substr(end_time, 21, 6) AS INTEGER) - CAST(substr(start_time, 21, 6) AS INTEGER))"
)
POSTGRES_LENGTH_US = "(EXTRACT(EPOCH FROM end_time - start_time) * 1000000)"


def upgrade() -> None:
    op.add_column(
        "calendar_events",
        sa.Column("span_class", sa.SmallInteger(), server_default=str(UNBOUNDED), nullable=False),
    )
    length = SQLITE_LENGTH_US if op.get_bind().dialect.name == "sqlite" else POSTGRES_LENGTH_US
    cases = " ".join(
        f"WHEN {length} <= {seconds * 1_000_000} THEN {index}" for index, seconds in enumerate(LIMITS_SECONDS)
    )
    # Only the constants above go into the text.
    op.execute(f"UPDATE calendar_events SET span_class = CASE {cases} ELSE {UNBOUNDED} END")  # noqa: S608
    op.create_index(
        "ix_events_project_span_start",
        "calendar_events",
        ["project_id", "span_class", "start_time", "end_time"],
        unique=False,
    )
    _rebuild_updated_at_index(["project_id", "updated_at", "id", "created_at", "start_time", "end_time", "is_deleted"])


def downgrade() -> None:
    _rebuild_updated_at_index(["project_id", "updated_at", "id"])
    op.drop_index("ix_events_project_span_start", table_name="calendar_events")
    op.drop_column("calendar_events", "span_class")


def _rebuild_updated_at_index(columns: list[str]) -> None:
    op.drop_index("ix_events_project_updated_at", table_name="calendar_events")
    op.create_index("ix_events_project_updated_at", "calendar_events", columns, unique=False)
