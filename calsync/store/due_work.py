"""Due work: the tables calsync uses as queues, and every query that claims from them, in one place.

The database is the only queue (docs/architecture.md, "The work model"). Each kind of work is a table whose rows
fall due: calendars to sync, webhook deliveries to send, bots to dispatch, meetings queued for evaluation, and the
projects whose event changes the evaluation reads. A `DueWork` describes one (table, key, due column, lease
columns, claim order, lock strength, the loop to wake) and builds the queries the work loops run on it:

- **claim** (`take`, `lease`): the due rows in claim order, locked `FOR UPDATE SKIP LOCKED` on PostgreSQL, so
  workers never wait for each other nor claim a row twice. On SQLite every write transaction begins with
  `BEGIN IMMEDIATE` and is exclusive already, so the claim is a plain SELECT there.
- **lease**: work that outlives its claim transaction (a sync, a webhook send) is leased: an owner and an expiry,
  and the due time moves to the expiry, so a worker that dies leaves its rows due again exactly when the lease
  runs out (no recovery sweep). Work done inside the claim transaction (a bot dispatch, a meeting evaluation)
  needs no lease: a killed worker either committed it or left it due.
- **release**: rows a stopping worker hands back are due again now, for any worker.
- **next due time** (`seconds_until_due`): how long an idle loop may sleep before something falls due.
- **named wake-up** (`notify`, `kick`): the loop's name (calsync.store.work_signal): NOTIFY in the writer's
  transaction for other processes, a kick for this one.
- **transient retry** (`run`): every claim is one whole transaction, re-run on transient faults
  (calsync.store.transient). A claim derives what it takes from what it reads, so a re-run is harmless.

Lock order
----------

Every transaction takes its row locks in this order, and never waits for a lock it could take earlier in the
order while holding a later one:

1. calendar rows: one (a sync's fence, `FOR NO KEY UPDATE`), or several in id order (push receivers, catch-up,
   claims with `SKIP LOCKED`, which never wait);
2. rows that belong to those calendars: events, push channels, bots (`FOR NO KEY UPDATE`; the dispatch claim skips
   locked ones) (and their deliveries' outbox rows, inserted);
3. webhook delivery and subscription rows (delivery records, `FOR NO KEY UPDATE`, in (subscription, delivery)
   order);
4. last, the change clock: on SQLite the project row (`UPDATE`, held until the commit, under a write lock that
   excludes every other writer anyway); on PostgreSQL two shared advisory locks that only register the writer
   for the readers' horizon (calsync.store.change_horizon): nothing takes them exclusively, so they never wait.

Every claim here locks with `SKIP LOCKED`, so a claim never waits and takes no part in a cycle.

Meetings (docs/bots.md, "Meetings, rules and overrides") add no lock to a sync: a sync page stamps each event's
`meeting_id` (a digest), and inserts queue rows only for the two meetings of an event that moved, before the clock;
the evaluation finds the meetings of the rows it wrote from their change numbers (calsync.meetings.scan: a cursor
per project, read below the change horizon). A meeting evaluation (the `meeting_evaluation` loop, an override `PUT`)
takes no calendar row and no clock: a project's scan cursor (`FOR UPDATE SKIP LOCKED`, only evaluations take it),
meeting rows in id order (`FOR NO KEY UPDATE`), then rule bots (`FOR NO KEY UPDATE`, level 2), then outbox rows.
A sync page and an evaluation can both lock bots of one meeting (the sync to make them follow their events, the
evaluation to move or end them). Bot rows are always locked in ascending id order across a whole transaction: a
sync page, a calendar's disconnect, reconnect or deletion, and an API call lock theirs in one ordered statement; an
evaluation first reads the ids of its meetings' bots, then locks them by id in ascending chunks. So no two of them
wait for each other in a cycle (tests/meetings/test_lock_order.py builds the interleaving that deadlocked when the
evaluation locked its bots meeting by meeting).

Inserts take `FOR KEY SHARE` on the rows their foreign keys point to (an event or outbox row on its project,
calendar and subscription). Every lock calsync itself takes on a row that others reference is `FOR NO KEY UPDATE`,
which does not conflict with `FOR KEY SHARE`. That was the deadlock of f573745: the change clock (then the project row on PostgreSQL too) was `FOR UPDATE`,
so two syncs of one project that had each queued a webhook (an outbox row, so `KEY SHARE` on the project) each
waited for the other's key-share lock to take the clock. bench/project_contention.py and
tests/sync/test_concurrency_faults.py measure and pin it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar, TypeVarTuple

from sqlalchemy import ColumnElement, Row, Select, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from calsync.store.db import Database
from calsync.store.models import Base, Bot, Calendar, MeetingEvaluation, MeetingScanCursor, WebhookDelivery
from calsync.store.work_signal import (
    BOT_DISPATCH_LOOP,
    MEETING_EVALUATION_LOOP,
    SYNC_LOOP,
    WEBHOOK_DELIVERY_LOOP,
    WorkSignal,
    notify_work_in_transaction,
)

R = TypeVar("R", bound=Base)
T = TypeVar("T")
Ts = TypeVarTuple("Ts")

# Keys per DELETE: far below every driver's limit on bound parameters.
_CHUNK = 500


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


class DueWork(Generic[R]):
    """One table used as a queue. Its rows are due when `due <= now` (every row, when `due` is None)."""

    def __init__(
        self,
        model: type[R],
        key: QueryableAttribute[int],
        waiter: str,
        *,
        order: tuple[QueryableAttribute[Any], ...],
        due: QueryableAttribute[datetime | None] | None = None,
        lease_owner: QueryableAttribute[str | None] | None = None,
        lease_expires: QueryableAttribute[datetime | None] | None = None,
        lease_checked: bool = False,
        no_key_update: bool = False,
        overdue_wakes: bool = False,
    ) -> None:
        # (instance attributes, not dataclass fields: type checkers would read the columns as their values)
        self.model = model
        self.key = key
        self.waiter = waiter  # the work loop woken when rows of this table fall due (calsync.store.work_signal)
        self.order = order  # claim order, served by an index on the due column
        self.due = due
        self.lease_owner = lease_owner
        self.lease_expires = lease_expires
        # The due time may move earlier while the row is leased (a push notification during a sync): a row is
        # then claimable only once its lease has expired as well.
        self.lease_checked = lease_checked
        # FOR NO KEY UPDATE instead of FOR UPDATE: other rows' inserts (FOR KEY SHARE on this one) are not blocked.
        self.no_key_update = no_key_update
        # Whether the next due time may be one already past (0 s: a row fell due while the loop looked elsewhere).
        # Off where rows already due may be unclaimable for now (a worker at its concurrency): it would spin.
        self.overdue_wakes = overdue_wakes

    # --- claims ------------------------------------------------------------------------------------------------

    def _due_where(self, now: datetime | None, where: Iterable[ColumnElement[bool]]) -> list[ColumnElement[bool]]:
        clauses = list(where)
        if self.due is not None:
            assert now is not None, "a table with due times is claimed at a time"
            clauses.insert(0, self.due <= now)
        if self.lease_checked:
            assert self.lease_expires is not None and now is not None
            clauses.append(or_(self.lease_expires.is_(None), self.lease_expires < now))
        return clauses

    def _skip_locked(self, session: AsyncSession, statement: Select[*Ts]) -> Select[*Ts]:
        if not is_postgres(session):
            return statement  # SQLite: the write transaction (BEGIN IMMEDIATE) is exclusive
        return statement.with_for_update(skip_locked=True, key_share=self.no_key_update)

    async def take(
        self,
        session: AsyncSession,
        now: datetime | None,
        *where: ColumnElement[bool],
        limit: int,
        refresh: bool = False,
    ) -> list[R]:
        """Up to `limit` due rows (and matching `where`) in claim order, locked for the caller's transaction; rows
        another transaction holds are skipped, never waited for. `refresh` re-reads rows this session had loaded."""
        if limit <= 0:
            return []
        statement = select(self.model).where(*self._due_where(now, where)).order_by(*self.order).limit(limit)
        statement = self._skip_locked(session, statement)
        if refresh:
            statement = statement.execution_options(populate_existing=True)
        return list((await session.execute(statement)).scalars())

    async def take_columns(
        self,
        session: AsyncSession,
        now: datetime | None,
        base: Select[*tuple[Any, ...]],
        *where: ColumnElement[bool],
        limit: int,
    ) -> Sequence[Row[*tuple[Any, ...]]]:
        """`take` as plain rows of `base` (a SELECT of this table, maybe joined to others): no ORM instances, for
        hot claims that write back with `hold_many` and `settle_many`. On PostgreSQL only this table's rows are
        locked, whatever `base` joins."""
        if limit <= 0:
            return []
        statement = base.where(*self._due_where(now, where)).order_by(*self.order).limit(limit)
        if is_postgres(session):
            statement = statement.with_for_update(skip_locked=True, key_share=self.no_key_update, of=self.model)
        return (await session.execute(statement)).all()

    async def lease(
        self,
        session: AsyncSession,
        now: datetime,
        *,
        owner: str,
        until: datetime,
        limit: int,
        returning: Sequence[QueryableAttribute[Any]] = (),
    ) -> Sequence[Row[*tuple[Any, ...]]]:
        """Lease up to `limit` due rows to `owner` until `until` in one statement (`UPDATE … WHERE key IN (SELECT …
        SKIP LOCKED) RETURNING key, *returning`); their due time becomes the lease expiry."""
        assert self.due is not None and self.lease_owner is not None and self.lease_expires is not None
        if limit <= 0:
            return []
        due = select(self.key).where(*self._due_where(now, ())).order_by(*self.order).limit(limit)
        statement = (
            update(self.model)
            .where(self.key.in_(self._skip_locked(session, due).scalar_subquery()))
            .values({self.lease_owner: owner, self.lease_expires: until, self.due: until})
            .returning(self.key, *returning)
            .execution_options(synchronize_session=False)
        )
        return (await session.execute(statement)).all()

    def hold(self, row: R, *, owner: str, until: datetime) -> None:
        """Lease one row taken by `take` (written at the flush): due again at the expiry unless settled before."""
        assert self.due is not None and self.lease_owner is not None and self.lease_expires is not None
        setattr(row, self.lease_owner.key, owner)
        setattr(row, self.lease_expires.key, until)
        setattr(row, self.due.key, until)

    def settle(self, row: R, *, due: datetime | None = None) -> None:
        """Free a row of its lease: due again at `due`, or never (None: the work is finished)."""
        assert self.due is not None
        setattr(row, self.due.key, due)
        if self.lease_owner is not None and self.lease_expires is not None:
            setattr(row, self.lease_owner.key, None)
            setattr(row, self.lease_expires.key, None)

    async def hold_many(
        self,
        session: AsyncSession,
        keys: Sequence[int],
        *,
        owner: str,
        until: datetime,
        values: Mapping[QueryableAttribute[Any], Any] | None = None,
        returning: Sequence[QueryableAttribute[Any]] = (),
    ) -> list[Row[*tuple[Any, ...]]]:
        """`hold` for rows read by `take_columns`, in one UPDATE per chunk of keys (with `values` set as well);
        the `returning` columns of the held rows (so a claim need not read wide rows it may not take)."""
        assert self.due is not None and self.lease_owner is not None and self.lease_expires is not None
        return await self._update_keys(
            session,
            keys,
            {self.lease_owner: owner, self.lease_expires: until, self.due: until, **(values or {})},
            returning,
        )

    async def settle_many(
        self,
        session: AsyncSession,
        keys: Sequence[int],
        *,
        due: datetime | None = None,
        values: Mapping[QueryableAttribute[Any], Any] | None = None,
    ) -> None:
        """`settle` for rows read by `take_columns`, in one UPDATE per chunk of keys (with `values` set as well)."""
        assert self.due is not None
        lease: dict[QueryableAttribute[Any], Any] = {}
        if self.lease_owner is not None and self.lease_expires is not None:
            lease = {self.lease_owner: None, self.lease_expires: None}
        await self._update_keys(session, keys, {self.due: due, **lease, **(values or {})})

    async def _update_keys(
        self,
        session: AsyncSession,
        keys: Sequence[int],
        values: Mapping[QueryableAttribute[Any], Any],
        returning: Sequence[QueryableAttribute[Any]] = (),
    ) -> list[Row[*tuple[Any, ...]]]:
        rows: list[Row[*tuple[Any, ...]]] = []
        for start in range(0, len(keys), _CHUNK):
            statement = (
                update(self.model)
                .where(self.key.in_(keys[start : start + _CHUNK]))
                .values(dict(values))
                .execution_options(synchronize_session=False)
            )
            if returning:
                rows += (await session.execute(statement.returning(*returning))).all()
            else:
                await session.execute(statement)
        return rows

    async def release(
        self,
        session: AsyncSession,
        keys: Iterable[int],
        *,
        owner: str,
        now: datetime,
        values: Mapping[QueryableAttribute[Any], Any] | None = None,
    ) -> None:
        """Hand back rows `owner` still holds (shutdown): due now, for any worker, with `values` set as well."""
        assert self.due is not None and self.lease_owner is not None and self.lease_expires is not None
        wanted = list(keys)
        if not wanted:
            return
        statement = (
            update(self.model)
            .where(self.key.in_(wanted), self.lease_owner == owner)
            .values({self.due: now, self.lease_owner: None, self.lease_expires: None, **(values or {})})
            .execution_options(synchronize_session=False)
        )
        await session.execute(statement)

    async def remove(self, session: AsyncSession, keys: Sequence[int]) -> None:
        """Delete finished rows (a queue whose rows are the work itself)."""
        for start in range(0, len(keys), _CHUNK):
            statement = delete(self.model).where(self.key.in_(keys[start : start + _CHUNK]))
            # (no search of the identity map for the deleted rows: nothing reads them again)
            await session.execute(statement.execution_options(synchronize_session=False))

    async def run(self, db: Database, body: Callable[[AsyncSession], Awaitable[T]], *, what: str) -> T:
        """`body` (a claim and what it does in its transaction) as one write transaction, re-run on transient
        faults; after the last try DatabaseUnavailable: nothing was claimed, the loop polls again."""
        return await db.write_retrying(body, what=what)

    # --- due times and wake-ups ---------------------------------------------------------------------------------

    async def next_due(self, session: AsyncSession, now: datetime) -> datetime | None:
        """The earliest due time (an index-only lookup): past ones too if `overdue_wakes`, else after `now`."""
        assert self.due is not None
        if self.overdue_wakes:
            statement = select(func.min(self.due))
        else:
            statement = select(self.due).where(self.due > now).order_by(self.due).limit(1)
        due: datetime | None = (await session.execute(statement)).scalar_one_or_none()
        return due

    async def seconds_until_due(self, db: Database, now: datetime, *, what: str) -> float | None:
        """How long an idle loop may sleep (0 when a row is already due), None when nothing is scheduled."""

        async def read(session: AsyncSession) -> datetime | None:
            return await self.next_due(session, now)

        due = await db.read_retrying(read, what=what)
        return None if due is None else max(0.0, (due - now).total_seconds())

    async def notify(self, session: AsyncSession) -> None:
        """Wake this work's loop in other processes when the caller's transaction commits (PostgreSQL)."""
        await notify_work_in_transaction(session, self.waiter)

    def kick(self, signal: WorkSignal) -> None:
        """Wake this work's loop in this process."""
        signal.kick(self.waiter)


# The queues. Each claim's order is served by the index on its due column (a partial one for bot launches,
# calsync.webhooks.claims), so finding due rows costs nothing however many are scheduled later.

# Calendars to sync (calsync.worker.claims): leased for the sync; a request during a sync moves the due time
# earlier than the lease expiry, which the sync keeps when it finishes.
CALENDAR_SYNCS: DueWork[Calendar] = DueWork(
    Calendar,
    Calendar.id,
    SYNC_LOOP,
    order=(Calendar.sync_due_at,),
    due=Calendar.sync_due_at,
    lease_owner=Calendar.lease_owner,
    lease_expires=Calendar.lease_expires_at,
    lease_checked=True,
)

# Webhook deliveries to send (calsync.webhooks.claims): leased for the send and until its record; `next_attempt_at`
# is NULL once a delivery succeeded or failed.
WEBHOOK_DELIVERIES: DueWork[WebhookDelivery] = DueWork(
    WebhookDelivery,
    WebhookDelivery.id,
    WEBHOOK_DELIVERY_LOOP,
    order=(WebhookDelivery.next_attempt_at, WebhookDelivery.id),
    due=WebhookDelivery.next_attempt_at,
    lease_owner=WebhookDelivery.lease_owner,
    lease_expires=WebhookDelivery.lease_expires_at,
)

# Bots to dispatch (calsync.bots.dispatch): no lease, the dispatch is the claim's transaction. NO KEY UPDATE: their
# outbox rows reference them.
BOT_DISPATCHES: DueWork[Bot] = DueWork(
    Bot,
    Bot.id,
    BOT_DISPATCH_LOOP,
    order=(Bot.dispatch_due_at, Bot.id),
    due=Bot.dispatch_due_at,
    no_key_update=True,
    overdue_wakes=True,
)

# Meetings queued for evaluation (calsync.meetings.queue): due once written, deleted when evaluated.
MEETING_EVALUATIONS: DueWork[MeetingEvaluation] = DueWork(
    MeetingEvaluation, MeetingEvaluation.id, MEETING_EVALUATION_LOOP, order=(MeetingEvaluation.id,)
)

# Projects whose event changes are to be read for their meetings (calsync.meetings.scan): a cursor per project,
# locked by one evaluator at a time.
MEETING_SCANS: DueWork[MeetingScanCursor] = DueWork(
    MeetingScanCursor,
    MeetingScanCursor.project_id,
    MEETING_EVALUATION_LOOP,
    order=(MeetingScanCursor.project_id,),
)
