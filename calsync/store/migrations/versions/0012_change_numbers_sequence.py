"""change numbers from a sequence: event writes on PostgreSQL no longer lock the project's row

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 21:30:00

On PostgreSQL every event write took the project row's lock to number and stamp its rows, and held it through its
commit, which bounded one project's commits a second. The numbers now come from one sequence for all projects
(increasing in commit order as seen below the change horizon, with gaps: calsync.store.change_horizon), starting
above every number taken so far. The sequence is owned by `calendar_events.change_seq`, so a TRUNCATE ... RESTART
IDENTITY restarts it. SQLite keeps the project's counter (its writers run one at a time).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE SEQUENCE calendar_events_change_seq AS bigint OWNED BY calendar_events.change_seq")
    op.execute(
        "SELECT setval('calendar_events_change_seq', top) FROM (SELECT greatest((SELECT max(change_seq) FROM calendar_events), "
        "(SELECT max(change_seq) FROM projects)) AS top) AS taken WHERE top > 0"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # Every project's counter continues above every number the sequence gave, and its clock above every stamp.
    op.execute(
        "UPDATE projects SET change_seq = greatest(change_seq, (SELECT last_value FROM calendar_events_change_seq)), "
        "events_clock = greatest(events_clock, "
        "(SELECT max(updated_at) FROM calendar_events WHERE calendar_events.project_id = projects.id))"
    )
    op.execute("DROP SEQUENCE calendar_events_change_seq")
