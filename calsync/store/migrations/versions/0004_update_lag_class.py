"""update-lag class: the events updated since a point, in creation order

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 05:50:00

Adds `calendar_events.update_lag_class` (calsync.store.duration_classes: how long after its creation an event was
last written, as a class) and the index `ix_events_project_lag_created` on (project_id, update_lag_class,
created_at, id) holding updated_at, start_time, end_time and is_deleted after them, so that each class is one walk
in creation order whose filters are tested on the index alone. Existing rows get their class from their stored
stamps, computed exactly (integer microseconds on SQLite), and their span class again (see `upgrade`).
`ix_events_project_updated_at` no longer holds created_at: the project's pages of "updated since, in creation
order" read the new index instead. The limits are written out here rather than imported: a migration must keep
meaning what it meant when it shipped.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# calsync.store.duration_classes.CLASS_LIMITS at this revision, in seconds; the class after the last is unbounded.
LIMITS_SECONDS = (1800, 3600, 7200, 14400, 28800, 93600, 259200, 691200, 2764800, 31708800)
UNBOUNDED = len(LIMITS_SECONDS)


def _length_us(later: str, earlier: str, dialect: str) -> str:
    """`later - earlier` in integer microseconds, exactly.

    SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff" (calsync.store.types.UTCDateTime): whole seconds come from strftime
    of the text without its fraction (strftime rounds a fraction to milliseconds, so '%s' of ":58.9995" is 59),
    microseconds from the text."""
    if dialect != "sqlite":
        return f"(EXTRACT(EPOCH FROM {later} - {earlier}) * 1000000)"
    seconds = "CAST(strftime('%s', substr({}, 1, 19)) AS INTEGER)"
    micros = "CAST(substr({}, 21, 6) AS INTEGER)"
    return (
        f"(({seconds.format(later)} - {seconds.format(earlier)}) * 1000000"
        f" + {micros.format(later)} - {micros.format(earlier)})"
    )


def _classified(length_us: str) -> str:
    cases = " ".join(f"WHEN {length_us} <= {s * 1_000_000} THEN {i}" for i, s in enumerate(LIMITS_SECONDS))
    return f"CASE {cases} ELSE {UNBOUNDED} END"


def upgrade() -> None:
    op.add_column(
        "calendar_events",
        sa.Column("update_lag_class", sa.SmallInteger(), server_default=str(UNBOUNDED), nullable=False),
    )
    dialect = op.get_bind().dialect.name
    lag = _classified(_length_us("updated_at", "created_at", dialect))
    # The span classes again: 0003 as first shipped rounded a stored fraction of .9995 s or more up on SQLite, so a
    # length within a second of a limit could get the class below its own.
    span = _classified(_length_us("end_time", "start_time", dialect))
    # Only the constants above go into the text.
    op.execute(f"UPDATE calendar_events SET update_lag_class = {lag}, span_class = {span}")  # noqa: S608
    op.create_index(
        "ix_events_project_lag_created",
        "calendar_events",
        [
            "project_id",
            "update_lag_class",
            "created_at",
            "id",
            "updated_at",
            "start_time",
            "end_time",
            "is_deleted",
        ],
        unique=False,
    )
    _rebuild_updated_at_index(["project_id", "updated_at", "id", "start_time", "end_time", "is_deleted"])


def downgrade() -> None:
    _rebuild_updated_at_index(["project_id", "updated_at", "id", "created_at", "start_time", "end_time", "is_deleted"])
    op.drop_index("ix_events_project_lag_created", table_name="calendar_events")
    op.drop_column("calendar_events", "update_lag_class")


def _rebuild_updated_at_index(columns: list[str]) -> None:
    op.drop_index("ix_events_project_updated_at", table_name="calendar_events")
    op.create_index("ix_events_project_updated_at", "calendar_events", columns, unique=False)
