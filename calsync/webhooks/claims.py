"""The database side of delivery: claim due rows under a lease, record each attempt, release on shutdown (the
deliveries' queue: calsync.store.due_work.WEBHOOK_DELIVERIES).

Each function runs inside one short transaction of the caller's; none of them touches the network. The
invariant they keep: `next_attempt_at` is the row's due time while it is pending or delivering (for a
delivering row it equals the lease expiry, so a dead worker's rows come due again by themselves) and NULL once
the row succeeded or failed.
"""

from __future__ import annotations

import dataclasses
import functools
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Row,
    Table,
    any_,
    bindparam,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.security.secret_box import SecretBox
from calsync.store.due_work import WEBHOOK_DELIVERIES, is_postgres
from calsync.store.models import (
    Bot,
    Calendar,
    DeliveryStatus,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookSecret,
    WebhookSubscription,
)
from calsync.webhooks import bulk_postgres, health
from calsync.webhooks.backoff import RetryPolicy, next_attempt_at
from calsync.webhooks.payloads import BOT_DISPATCH, BotRef, CalendarRef, build_envelope
from calsync.webhooks.sender import AttemptResult
from calsync.webhooks.signing import canonical_json

# The launches' partial index (ix_webhook_deliveries_due_launches) is used only when the query states its
# predicate as written, with the literal: a bound parameter would not prove it to PostgreSQL's planner.
LAUNCHES: ColumnElement[bool] = WebhookDelivery.trigger == literal_column(f"'{BOT_DISPATCH}'")

INACTIVE_ERROR = "webhook is inactive"
NO_SECRET_ERROR = "the project has no active signing secret"


@dataclass(frozen=True)
class Job:
    """Everything one attempt needs, read in the claim transaction so the send needs no database."""

    delivery_id: int
    subscription_id: int
    url: str
    idempotency_key: str
    body: bytes  # canonical JSON of the envelope, built now (delivery time)
    secrets: tuple[bytes, ...]  # newest first
    struggling: bool  # the webhook was in a failure streak when claimed
    launch: bool = False  # a bot launch (`bot.dispatch`): sent before its webhook's other rows waiting to start


@dataclass(frozen=True)
class Claim:
    jobs: list[Job]
    finished: int  # rows settled without sending (inactive subscription)
    deferred: int  # due rows left for later because their subscription had no room
    exhausted: bool = False  # every due row of a webhook with room was read: a claim now would find none


@dataclass(frozen=True)
class Concurrency:
    """How many deliveries of one webhook may be in flight at once, and how many are (in this worker)."""

    healthy: int  # a webhook whose last attempt succeeded
    struggling: int  # a webhook in a failure streak: probing, not flooding
    in_flight: dict[int, int]  # subscription id -> deliveries in flight
    # Webhooks whose last attempt by this worker failed, whether or not that is recorded yet (attempts are recorded
    # in the background, after their slot is freed).
    failing: frozenset[int] = frozenset()

    def is_struggling(self, subscription_id: int, consecutive_failures: int) -> bool:
        return consecutive_failures > 0 or subscription_id in self.failing

    def limit(self, subscription_id: int, consecutive_failures: int) -> int:
        return self.struggling if self.is_struggling(subscription_id, consecutive_failures) else self.healthy


# Reads of due rows in one claim: a read after the first skips the webhooks the earlier ones filled, so a claim
# either fills its batch or knows it saw every due row there was room for (no empty claim after it).
MAX_READS = 3


@dataclass
class _Selection:
    taken: list[Row[*tuple[Any, ...]]]
    held: dict[int, Row[*tuple[Any, ...]]]  # id -> what the lease returned (the body's columns)
    inactive: list[int]
    deferred: int
    exhausted: bool


async def claim_due(
    session: AsyncSession,
    box: SecretBox,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    concurrency: Concurrency,
    full: list[int],
) -> Claim:
    """Lease up to `limit` due deliveries, at most `concurrency.limit(...)` in flight per webhook.

    `full` names the webhooks already at their limit: their rows are skipped in SQL, so a dead endpoint's backlog
    never fills a batch meant for others.

    Bot launches (`bot.dispatch`) go first, in due order, then everything else in due order: a launch is late the
    moment it waits, while the `bot.state_change` written beside it and calendar updates only inform. 10,000 bots
    due in one minute are 20,000 webhooks to one runner; taken in plain due order, half the slots went to the
    state changes and launches queued behind them for tens of seconds (bench/bot_dispatch.py).

    A handful of statements whatever the batch. On PostgreSQL one statement reads the due rows, fits them to their
    webhooks' room, leases those that fit and returns their bodies' columns, calendars, bots and secrets
    (bulk_postgres.claim; read again without the webhooks it filled while the batch has room).
    On SQLite two narrow SELECTs read the due rows' keys with their webhook (launches, then the rest; read again
    without the webhooks they filled while the batch has room), an UPDATE … RETURNING leases the taken rows, and
    one read each finds their calendars, bots and secrets. Then one UPDATE for those settled unsent. Plain rows
    throughout: no ORM instance is made or flushed on this path."""
    postgres = is_postgres(session)
    selection = await _select(
        session,
        now,
        owner=owner,
        until=now + lease,
        limit=limit,
        concurrency=concurrency,
        full=full,
        postgres=postgres,
    )
    if selection.inactive:
        # As Attendee: a delivery for a disabled endpoint is settled as failed, never sent (retryable by hand).
        await WEBHOOK_DELIVERIES.settle_many(
            session,
            selection.inactive,
            values={WebhookDelivery.status: DeliveryStatus.FAILED.value, WebhookDelivery.last_error: INACTIVE_ERROR},
        )
    finished = len(selection.inactive)
    taken = selection.taken
    if not taken:
        return Claim([], finished, selection.deferred, selection.exhausted)
    held = list(selection.held.values())
    if postgres:
        refs = _refs_returned(box, held)
    else:
        refs = await _refs_read(session, box, held, now)
    jobs: list[Job] = []
    for row in taken:
        body = selection.held[row.id]
        calendar, bot, secrets = refs[row.id]
        envelope = build_envelope(
            idempotency_key=body.idempotency_key, trigger=body.trigger, data=body.data, calendar=calendar, bot=bot
        )
        jobs.append(
            Job(
                delivery_id=row.id,
                subscription_id=row.subscription_id,
                url=row.url,
                idempotency_key=body.idempotency_key,
                body=canonical_json(envelope),
                secrets=secrets,
                struggling=concurrency.is_struggling(row.subscription_id, row.consecutive_failures),
                launch=body.trigger == BOT_DISPATCH,
            )
        )
    return Claim(jobs, finished, selection.deferred, selection.exhausted)


_Refs = tuple[CalendarRef | None, BotRef | None, tuple[bytes, ...]]


def _refs_returned(box: SecretBox, held: Sequence[Row[*tuple[Any, ...]]]) -> dict[int, _Refs]:
    """Each held row's calendar, bot and secrets, as PostgreSQL's lease statement returned them."""
    refs: dict[int, _Refs] = {}
    for row in held:
        calendar = (
            CalendarRef(row.calendar_object_id, row.calendar_deduplication_key, row.calendar_metadata)
            if row.calendar_object_id is not None
            else None
        )
        bot = BotRef(row.bot_object_id, row.bot_metadata) if row.bot_object_id else None
        refs[row.id] = (calendar, bot, tuple(_decrypt(box, token) for token in row.secrets or ()))
    return refs


async def _refs_read(
    session: AsyncSession, box: SecretBox, held: Sequence[Row[*tuple[Any, ...]]], now: datetime
) -> dict[int, _Refs]:
    """Each held row's calendar, bot and secrets, read in one statement each (SQLite: in-process, no round trips)."""
    calendars = await _calendars(session, {row.calendar_id for row in held if row.calendar_id is not None})
    bot_metadata = await _bot_metadata(session, {row.bot_object_id for row in held if row.bot_object_id is not None})
    secrets = await _secrets(session, box, {row.project_id for row in held}, now)
    return {
        row.id: (
            calendars.get(row.calendar_id) if row.calendar_id is not None else None,
            BotRef(row.bot_object_id, bot_metadata.get(row.bot_object_id)) if row.bot_object_id else None,
            secrets.get(row.project_id, ()),
        )
        for row in held
    }


async def _select(
    session: AsyncSession,
    now: datetime,
    *,
    owner: str,
    until: datetime,
    limit: int,
    concurrency: Concurrency,
    full: list[int],
    postgres: bool,
) -> _Selection:
    """Read due rows (launches first) and lease those whose webhook has room, read after read, until the batch is
    full, every due row with room was seen, or MAX_READS. Each read's rows are leased before the next read, so
    their due time is past `now` and a later read does not see them again.

    A read asks for at most a healthy webhook's limit of rows: one busy webhook's backlog (a bot runner's) then
    costs a claim the rows it may take and as many again, not the whole batch's worth, and a read that was all
    taken is followed by another in the same transaction. On PostgreSQL a read and its lease are one statement
    (see _claim_postgres)."""
    selection = _Selection([], {}, [], 0, exhausted=False)
    counts = dict(concurrency.in_flight)
    skip = set(full)
    launches_left = True
    for _ in range(MAX_READS):
        want = limit - len(selection.taken) - len(selection.inactive)
        if want <= 0:
            return selection
        read = min(want, max(concurrency.healthy, 1))
        if postgres:
            if await _claim_postgres(
                session,
                selection,
                now,
                owner=owner,
                until=until,
                read=read,
                counts=counts,
                concurrency=concurrency,
                skip=skip,
            ):
                selection.exhausted = True
                return selection
            continue
        room = [WebhookDelivery.subscription_id.not_in(sorted(skip))] if skip else []
        launches = await _take(session, now, LAUNCHES, *room, limit=read) if launches_left else []
        # (a later read skips more webhooks, so it cannot find a launch this one missed)
        launches_left = len(launches) == read
        rows = [*launches, *await _take(session, now, ~LAUNCHES, *room, limit=read - len(launches))]
        taken: list[Row[*tuple[Any, ...]]] = []
        filled: set[int] = set()
        for row in rows:
            if not row.is_active:  # (also a webhook deleted meanwhile: the outer join found none)
                selection.inactive.append(row.id)
                filled.add(row.subscription_id)
                continue
            if counts.get(row.subscription_id, 0) >= concurrency.limit(row.subscription_id, row.consecutive_failures):
                selection.deferred += 1
                filled.add(row.subscription_id)
                continue
            counts[row.subscription_id] = counts.get(row.subscription_id, 0) + 1
            taken.append(row)
        if taken:
            held = await WEBHOOK_DELIVERIES.hold_many(
                session,
                [row.id for row in taken],
                owner=owner,
                until=until,
                values={WebhookDelivery.status: DeliveryStatus.DELIVERING.value},
                returning=_PAYLOAD,
            )
            selection.held.update((row.id, row) for row in held)
            selection.taken += taken
        if len(rows) < read:
            selection.exhausted = True
            return selection
        skip |= filled
    return selection


async def _claim_postgres(
    session: AsyncSession,
    selection: _Selection,
    now: datetime,
    *,
    owner: str,
    until: datetime,
    read: int,
    counts: dict[int, int],
    concurrency: Concurrency,
    skip: set[int],
) -> bool:
    """One read-decide-lease statement (bulk_postgres.claim) into `selection`; the webhooks it found full or
    inactive join `skip` for the next read. True when it read every due row of the webhooks not skipped (its read
    came back short)."""
    rows = await bulk_postgres.claim(
        session,
        now,
        skip=sorted(skip),
        scan=read,
        in_flight=counts,
        failing=sorted(concurrency.failing),
        healthy=concurrency.healthy,
        struggling=concurrency.struggling,
        owner=owner,
        until=until,
        status=DeliveryStatus.DELIVERING.value,
    )
    for row in rows:
        if row.taken:
            counts[row.subscription_id] = counts.get(row.subscription_id, 0) + 1
            selection.taken.append(row)
            selection.held[row.id] = row
            continue
        if row.is_active:
            selection.deferred += 1
        else:  # (also a webhook deleted meanwhile: the outer join found none)
            selection.inactive.append(row.id)
        skip.add(row.subscription_id)
    return len(rows) < read


# What a claim reads to decide (narrow: a read may see rows it leaves), and what the lease returns of the rows it
# takes on SQLite (the body's columns and references; PostgreSQL's lease returns the references resolved).
_CLAIMED = (
    WebhookDelivery.id,
    WebhookDelivery.subscription_id,
    WebhookSubscription.url,
    WebhookSubscription.is_active,
    WebhookSubscription.consecutive_failures,
)
_PAYLOAD = (
    WebhookDelivery.id,
    WebhookDelivery.idempotency_key,
    WebhookDelivery.trigger,
    WebhookDelivery.data,
    WebhookDelivery.project_id,
    WebhookDelivery.calendar_id,
    WebhookDelivery.bot_object_id,
)


async def _take(
    session: AsyncSession, now: datetime, *where: ColumnElement[bool], limit: int
) -> Sequence[Row[*tuple[Any, ...]]]:
    if limit <= 0:
        return []
    # An outer join: a row whose webhook is gone reads as inactive (its row is deleted with it by the cascade).
    joined = select(*_CLAIMED).outerjoin(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
    return await WEBHOOK_DELIVERIES.take_columns(session, now, joined, *where, limit=limit)


async def _calendars(session: AsyncSession, ids: set[int]) -> dict[int, CalendarRef]:
    if not ids:
        return {}
    statement = select(Calendar.id, Calendar.object_id, Calendar.deduplication_key, Calendar.metadata_).where(
        Calendar.id.in_(ids)
    )
    return {
        id_: CalendarRef(object_id, key, metadata) for id_, object_id, key, metadata in await session.execute(statement)
    }


async def _bot_metadata(session: AsyncSession, object_ids: set[str]) -> dict[str, dict[str, Any] | None]:
    """Each bot's metadata as it is now (the envelope's `bot_metadata`, like `calendar_metadata`)."""
    if not object_ids:
        return {}
    rows = await session.execute(select(Bot.object_id, Bot.metadata_).where(Bot.object_id.in_(object_ids)))
    return {object_id: metadata for object_id, metadata in rows}


async def _secrets(
    session: AsyncSession, box: SecretBox, project_ids: set[int], now: datetime
) -> dict[int, tuple[bytes, ...]]:
    """Each project's active secrets, newest first (the order of `secret_store.active_secrets`)."""
    statement = (
        select(WebhookSecret.project_id, WebhookSecret.encrypted_secret)
        .where(
            WebhookSecret.project_id.in_(project_ids),
            or_(WebhookSecret.expires_at.is_(None), WebhookSecret.expires_at > now),
        )
        .order_by(WebhookSecret.project_id, WebhookSecret.created_at.desc(), WebhookSecret.id.desc())
    )
    found: dict[int, list[bytes]] = {}
    for project_id, token in await session.execute(statement):
        found.setdefault(project_id, []).append(_decrypt(box, token))
    return {project_id: tuple(keys) for project_id, keys in found.items()}


@functools.lru_cache(maxsize=1024)
def _decrypt(box: SecretBox, token: bytes) -> bytes:
    # Fernet checks a MAC and decrypts on every call; a project's secret is the same token claim after claim.
    return box.decrypt(token)


@dataclass(frozen=True)
class Attempted:
    """One finished attempt, to be recorded."""

    job: Job
    result: AttemptResult
    attempted_at: datetime


async def record_attempts(
    session: AsyncSession,
    attempts: Sequence[Attempted],
    *,
    owner: str,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
) -> list[str | None]:
    """Log each attempt and move its delivery on: succeeded, pending (with its next due time) or failed. One
    transaction for a batch, in a handful of statements whatever its size: the deliveries and their webhooks' health
    are read and locked as plain rows in two statements (on PostgreSQL with one array of keys each), the attempt log
    written in one, the deliveries' new states in one more (on PostgreSQL both pass the batch as arrays joined in
    with unnest: one SQL text for every batch size), and the health of the webhooks whose health changed in one
    more. On PostgreSQL a batch that all succeeded is one statement (bulk_postgres.record_successes). No ORM
    instance is made or flushed.

    Returns each attempt's new status, or None when our lease was lost (another worker re-claimed the row after it
    expired; it owns the row now, so only the attempt log is written).
    """
    if not attempts:
        return []
    postgres = is_postgres(session)
    if postgres and all(a.result.succeeded for a in attempts):
        # Every attempt succeeded (no retry to schedule, no failure streak to judge): one statement records them.
        # It reads and locks nothing first: it settles only the rows still leased to this worker, and writes a
        # webhook's health only when that changes, skipping a webhook row another transaction holds.
        settled = await bulk_postgres.record_successes(
            session,
            [
                {
                    "id": a.job.delivery_id,
                    "attempted_at": a.attempted_at,
                    "status_code": a.result.status_code,
                    "response_excerpt": a.result.response_excerpt,
                    "duration_ms": round(a.result.duration_ms, 3),
                }
                for a in attempts
            ],
            owner=owner,
            now=now,
        )
        return [settled.get(a.job.delivery_id) for a in attempts]
    delivery_ids = sorted({a.job.delivery_id for a in attempts})
    subscription_ids = sorted({a.job.subscription_id for a in attempts})
    statement = select(*_RECORD_READ).order_by(_TABLE.c.subscription_id, _TABLE.c.id)
    subscription_statement = select(_SUBSCRIPTIONS.c.id, *_HEALTH_COLUMNS).order_by(_SUBSCRIPTIONS.c.id)
    if postgres:
        # One array each: the same statement (prepared once) whatever the batch. NO KEY UPDATE: only health and
        # status columns change, so new outbox rows (whose foreign keys take FOR KEY SHARE on the subscription) are
        # never blocked by a delivery being recorded. One order for every worker: deliveries by (subscription, id),
        # then subscriptions by id.
        statement = statement.where(_TABLE.c.id == any_(_array("delivery_ids", delivery_ids)))
        subscription_statement = subscription_statement.where(
            _SUBSCRIPTIONS.c.id == any_(_array("subscription_ids", subscription_ids))
        )
        statement = statement.with_for_update(key_share=True)
        subscription_statement = subscription_statement.with_for_update(key_share=True)
    else:
        statement = statement.where(_TABLE.c.id.in_(delivery_ids))
        subscription_statement = subscription_statement.where(_SUBSCRIPTIONS.c.id.in_(subscription_ids))
    rows = {row.id: row for row in await session.execute(statement)}
    subscriptions = {row.id: health.HealthColumns(*row[1:]) for row in await session.execute(subscription_statement)}
    before = {sub_id: dataclasses.replace(columns) for sub_id, columns in subscriptions.items()}
    log: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    statuses = [
        _record(
            rows.get(a.job.delivery_id),
            subscriptions.get(a.job.subscription_id),
            a,
            log,
            changes,
            owner,
            now,
            policy,
            rng,
        )
        for a in attempts
    ]
    if postgres:
        # Arrays joined in with unnest: one SQL text whatever the batch size, so compiled and prepared once.
        if log:
            await bulk_postgres.log_attempts(session, log)
        if changes:
            await bulk_postgres.settle(session, changes)
    else:
        if log:
            await session.execute(insert(WebhookDeliveryAttempt), log)
        if changes:
            await _write_changes(session, changes)
    healths = [
        {"subscription_id": sub_id, **{f"new_{name}": value for name, value in dataclasses.asdict(columns).items()}}
        for sub_id, columns in subscriptions.items()
        if columns != before[sub_id]
    ]
    if healths:
        await session.execute(_WRITE_HEALTH, healths)
    return statuses


def _array(name: str, values: list[int]) -> Any:
    return bindparam(name, values, type_=ARRAY(BigInteger))


_SUBSCRIPTIONS = cast(Table, WebhookSubscription.__table__)
_HEALTH_COLUMNS = tuple(_SUBSCRIPTIONS.c[name] for name in health.HEALTH_FIELDS)
# A webhook's health after a batch (executemany: one row per webhook of the batch, usually one).
_WRITE_HEALTH = (
    update(_SUBSCRIPTIONS)
    .where(_SUBSCRIPTIONS.c.id == bindparam("subscription_id"))
    .values({name: bindparam(f"new_{name}", type_=_SUBSCRIPTIONS.c[name].type) for name in health.HEALTH_FIELDS})
)
_TABLE = cast(Table, WebhookDelivery.__table__)
# What recording an attempt reads of its delivery.
# (Core columns, as the rest of the record: an ORM-enabled SELECT costs more to execute than the rows it reads.)
_RECORD_READ = (
    _TABLE.c.id,
    _TABLE.c.status,
    _TABLE.c.attempts,
    _TABLE.c.lease_owner,
    _TABLE.c.last_attempt_at,
    _TABLE.c.queued_at,
)
# What it writes (and frees the lease): the key first; the same columns on both databases.
_RECORD_WRITE = bulk_postgres.SETTLE_COLUMNS


def _record(
    row: Row[*tuple[Any, ...]] | None,
    subscription: health.HealthColumns | None,
    attempt: Attempted,
    log: list[dict[str, Any]],
    changes: list[dict[str, Any]],
    owner: str,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
) -> str | None:
    if row is None:
        return None  # deleted with its webhook meanwhile: nothing to log against
    if row.lease_owner != owner and row.last_attempt_at == attempt.attempted_at:
        # This attempt was recorded already: the transaction is being re-run after a commit whose outcome the
        # dropped connection hid (calsync.store.transient). Log it once.
        return str(row.status)
    result = attempt.result
    log.append(
        {
            "delivery_id": row.id,
            "attempted_at": attempt.attempted_at,
            "status_code": result.status_code,
            "response_excerpt": result.response_excerpt,
            "error": result.error,
            "duration_ms": round(result.duration_ms, 3),
        }
    )
    if row.lease_owner != owner or row.status != DeliveryStatus.DELIVERING.value:
        return None
    attempts = row.attempts + 1
    change = {
        "id": row.id,
        "attempts": attempts,
        "last_attempt_at": attempt.attempted_at,
        "last_status_code": result.status_code,
        "last_error": result.error,
        "next_attempt_at": None,
        "delivered_at": None,  # None keeps the column as it is
    }
    changes.append(change)
    if result.succeeded:
        change.update(status=DeliveryStatus.SUCCEEDED.value, delivered_at=now)
        if subscription is not None:
            health.record_success(subscription, now)
        return DeliveryStatus.SUCCEEDED.value
    if subscription is not None:
        health.record_failure(subscription, result.error or "failed", now)
    retry_at = next_attempt_at(
        created_at=row.queued_at, failed_at=now, failed_attempts=attempts, rng=rng, policy=policy
    )
    status = DeliveryStatus.FAILED if retry_at is None else DeliveryStatus.PENDING
    change.update(status=status.value, next_attempt_at=retry_at)
    return status.value


def _settled_values(source: Any) -> dict[Any, Any]:
    """The columns an attempt's record sets, from `source`'s columns of the same names; the lease is freed."""
    table = _TABLE
    values: dict[Any, Any] = {table.c[name]: source[name] for name in _RECORD_WRITE[1:]}
    values[table.c.delivered_at] = func.coalesce(source["delivered_at"], table.c.delivered_at)
    values[table.c.lease_owner] = None
    values[table.c.lease_expires_at] = None
    return values


async def _write_changes(session: AsyncSession, changes: list[dict[str, Any]]) -> None:
    # SQLite: one prepared UPDATE run for each row (in-process, so no round trips to save; its VALUES lists take no
    # column names).
    table = _TABLE
    params = {name: bindparam(f"new_{name}", type_=table.c[name].type) for name in _RECORD_WRITE}
    statement = update(table).where(table.c.id == params["id"]).values(_settled_values(params))
    await session.execute(statement, [{f"new_{name}": value for name, value in change.items()} for change in changes])


async def release(session: AsyncSession, delivery_ids: Iterable[int], *, owner: str, now: datetime) -> None:
    """Hand unfinished claims back (shutdown): due again now, for any worker."""
    await WEBHOOK_DELIVERIES.release(
        session, delivery_ids, owner=owner, now=now, values={WebhookDelivery.status: DeliveryStatus.PENDING.value}
    )
