"""PostgreSQL's statements for the delivery loop's hot transactions: recording a batch of attempts (the batch's rows
passed as one array per column and joined in with `unnest`, so the SQL text is the same whatever the batch size),
and a claim's lease with everything the bodies need (one statement instead of four).

A `VALUES` list or a multi-row `INSERT` differs with every batch size: SQLAlchemy compiled it and asyncpg prepared
it anew for most batches, which cost more CPU than the rows themselves (bench/webhook_delivery.py, docs/benchmarks.md
§14). Here each statement is compiled once and prepared once per connection."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Float, Integer, Row, Text, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

_TIMES = ARRAY(DateTime(timezone=True))

# The deliveries' new states; the lease is freed, and a NULL `delivered_at` keeps the column as it is.
_SETTLE = text(
    """
    UPDATE webhook_deliveries AS d SET
        status = r.status,
        attempts = r.attempts,
        last_attempt_at = r.last_attempt_at,
        last_status_code = r.last_status_code,
        last_error = r.last_error,
        next_attempt_at = r.next_attempt_at,
        delivered_at = coalesce(r.delivered_at, d.delivered_at),
        lease_owner = NULL,
        lease_expires_at = NULL
    FROM unnest(
        CAST(:id AS bigint[]), CAST(:status AS text[]), CAST(:attempts AS integer[]),
        CAST(:last_attempt_at AS timestamptz[]), CAST(:last_status_code AS integer[]), CAST(:last_error AS text[]),
        CAST(:next_attempt_at AS timestamptz[]), CAST(:delivered_at AS timestamptz[])
    ) AS r(id, status, attempts, last_attempt_at, last_status_code, last_error, next_attempt_at, delivered_at)
    WHERE d.id = r.id
    """
).bindparams(
    bindparam("id", type_=ARRAY(BigInteger)),
    bindparam("status", type_=ARRAY(Text)),
    bindparam("attempts", type_=ARRAY(Integer)),
    bindparam("last_attempt_at", type_=_TIMES),
    bindparam("last_status_code", type_=ARRAY(Integer)),
    bindparam("last_error", type_=ARRAY(Text)),
    bindparam("next_attempt_at", type_=_TIMES),
    bindparam("delivered_at", type_=_TIMES),
)
SETTLE_COLUMNS = (
    "id",
    "status",
    "attempts",
    "last_attempt_at",
    "last_status_code",
    "last_error",
    "next_attempt_at",
    "delivered_at",
)

_LOG = text(
    """
    INSERT INTO webhook_delivery_attempts
        (delivery_id, attempted_at, status_code, response_excerpt, error, duration_ms)
    SELECT * FROM unnest(
        CAST(:delivery_id AS bigint[]), CAST(:attempted_at AS timestamptz[]), CAST(:status_code AS integer[]),
        CAST(:response_excerpt AS text[]), CAST(:error AS text[]), CAST(:duration_ms AS double precision[])
    )
    """
).bindparams(
    bindparam("delivery_id", type_=ARRAY(BigInteger)),
    bindparam("attempted_at", type_=_TIMES),
    bindparam("status_code", type_=ARRAY(Integer)),
    bindparam("response_excerpt", type_=ARRAY(Text)),
    bindparam("error", type_=ARRAY(Text)),
    bindparam("duration_ms", type_=ARRAY(Float)),
)
LOG_COLUMNS = ("delivery_id", "attempted_at", "status_code", "response_excerpt", "error", "duration_ms")


def _columns(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> dict[str, list[Any]]:
    return {name: [row[name] for row in rows] for name in names}


async def settle(session: AsyncSession, changes: Sequence[dict[str, Any]]) -> None:
    """Write each delivery's new state (`changes`: one dict of SETTLE_COLUMNS per delivery)."""
    await session.execute(_SETTLE, _columns(changes, SETTLE_COLUMNS))


async def log_attempts(session: AsyncSession, log: Sequence[dict[str, Any]]) -> None:
    """Append the attempts (`log`: one dict of LOG_COLUMNS per attempt) to the attempt log."""
    await session.execute(_LOG, _columns(log, LOG_COLUMNS))


# A claim's lease, and everything the taken rows' bodies need, in one statement: the rows are leased and their
# envelope's columns returned with their calendar, bot and project's active secrets (newest first), instead of an
# UPDATE … RETURNING followed by one read each for calendars, bots and secrets. `= ANY(array)` keeps one SQL text
# (one prepared statement) whatever the number of rows.
_HOLD = text(
    """
    WITH held AS (
        UPDATE webhook_deliveries AS d SET
            lease_owner = :owner, lease_expires_at = :until, next_attempt_at = :until, status = :status
        WHERE d.id = ANY(CAST(:ids AS bigint[]))
        RETURNING d.id, d.idempotency_key, d.trigger, d.data, d.project_id, d.calendar_id, d.bot_object_id
    ), project_keys AS (
        SELECT s.project_id, array_agg(s.encrypted_secret ORDER BY s.created_at DESC, s.id DESC) AS secrets
        FROM webhook_secrets AS s
        WHERE s.project_id IN (SELECT held.project_id FROM held) AND (s.expires_at IS NULL OR s.expires_at > :now)
        GROUP BY s.project_id
    )
    SELECT held.id, held.idempotency_key, held.trigger, held.data, held.project_id,
        held.calendar_id, c.object_id AS calendar_object_id, c.deduplication_key AS calendar_deduplication_key,
        c.metadata AS calendar_metadata,
        held.bot_object_id, b.metadata AS bot_metadata,
        project_keys.secrets
    FROM held
    LEFT JOIN calendars AS c ON c.id = held.calendar_id
    LEFT JOIN bots AS b ON b.object_id = held.bot_object_id
    LEFT JOIN project_keys ON project_keys.project_id = held.project_id
    """
).bindparams(
    bindparam("ids", type_=ARRAY(BigInteger)),
    bindparam("owner", type_=Text),
    bindparam("until", type_=DateTime(timezone=True)),
    bindparam("status", type_=Text),
    bindparam("now", type_=DateTime(timezone=True)),
)


async def hold_with_bodies(
    session: AsyncSession, ids: Sequence[int], *, owner: str, until: datetime, status: str, now: datetime
) -> Sequence[Row[Any]]:
    """Lease `ids` to `owner` until `until` (status `status`) and return each row's body columns (see _HOLD)."""
    result = await session.execute(
        _HOLD, {"ids": list(ids), "owner": owner, "until": until, "status": status, "now": now}
    )
    return result.all()


# A claim's read: up to :limit due rows, bot launches first (through their partial index, whose predicate must be
# written as the literal), then the others, each in due order, locked SKIP LOCKED, with their webhook (an outer
# join: a row whose webhook is gone reads as inactive); the webhooks in :skip are left out. One statement and one
# round trip instead of a SELECT for each kind (calsync.webhooks.claims).
_DUE = text(
    """
    WITH launches AS (
        SELECT d.id, d.subscription_id, d.next_attempt_at, s.url, s.is_active, s.consecutive_failures
        FROM webhook_deliveries AS d LEFT JOIN webhook_subscriptions AS s ON s.id = d.subscription_id
        WHERE d.next_attempt_at <= :now AND d.trigger = 'bot.dispatch' AND d.subscription_id <> ALL(:skip)
        ORDER BY d.next_attempt_at, d.id
        LIMIT :limit
        FOR UPDATE OF d SKIP LOCKED
    ), others AS (
        SELECT d.id, d.subscription_id, d.next_attempt_at, s.url, s.is_active, s.consecutive_failures
        FROM webhook_deliveries AS d LEFT JOIN webhook_subscriptions AS s ON s.id = d.subscription_id
        WHERE d.next_attempt_at <= :now AND d.trigger <> 'bot.dispatch' AND d.subscription_id <> ALL(:skip)
        ORDER BY d.next_attempt_at, d.id
        LIMIT :limit - (SELECT count(*) FROM launches)
        FOR UPDATE OF d SKIP LOCKED
    )
    SELECT id, subscription_id, url, is_active, consecutive_failures, 0 AS part, next_attempt_at FROM launches
    UNION ALL
    SELECT id, subscription_id, url, is_active, consecutive_failures, 1 AS part, next_attempt_at FROM others
    ORDER BY part, next_attempt_at, id
    """
).bindparams(
    bindparam("now", type_=DateTime(timezone=True)),
    bindparam("skip", type_=ARRAY(BigInteger)),
    bindparam("limit", type_=BigInteger),
)


async def take_due(session: AsyncSession, now: datetime, *, skip: Sequence[int], limit: int) -> Sequence[Row[Any]]:
    """Up to `limit` due deliveries, launches first, of webhooks not in `skip` (see _DUE)."""
    result = await session.execute(_DUE, {"now": now, "skip": list(skip), "limit": limit})
    return result.all()


# A batch of answered attempts that all succeeded, recorded in one statement (the common case: one round trip instead
# of the five of claims.record_attempts, and no row decoded in Python). Every sub-statement sees the rows as they
# were before it, so the attempt log skips an attempt whose record already committed (a transaction re-run after a
# dropped connection hid its commit: the lease is gone and `last_attempt_at` is this attempt's), and each attempt's
# status is read from that same snapshot. The webhooks are locked in id order before their health is written, the
# order claims.record_attempts keeps, so two workers recording the same webhooks wait rather than deadlock.
_RECORD_SUCCESSES = text(
    """
    WITH r AS (
        SELECT * FROM unnest(
            CAST(:id AS bigint[]), CAST(:attempted_at AS timestamptz[]), CAST(:status_code AS integer[]),
            CAST(:response_excerpt AS text[]), CAST(:duration_ms AS double precision[])
        ) AS r(id, attempted_at, status_code, response_excerpt, duration_ms)
    ), before AS (
        SELECT r.*, d.subscription_id, d.status,
            d.lease_owner IS DISTINCT FROM :owner AND d.last_attempt_at IS NOT DISTINCT FROM r.attempted_at
                AS recorded,
            d.lease_owner IS NOT DISTINCT FROM :owner AND d.status = 'delivering' AS ours
        FROM r JOIN webhook_deliveries AS d ON d.id = r.id
    ), settled AS (
        UPDATE webhook_deliveries AS d SET
            status = 'succeeded', attempts = d.attempts + 1, last_attempt_at = b.attempted_at,
            last_status_code = b.status_code, last_error = NULL, next_attempt_at = NULL, delivered_at = :now,
            lease_owner = NULL, lease_expires_at = NULL
        FROM before AS b
        WHERE d.id = b.id AND b.ours
        RETURNING d.id
    ), logged AS (
        INSERT INTO webhook_delivery_attempts
            (delivery_id, attempted_at, status_code, response_excerpt, error, duration_ms)
        SELECT b.id, b.attempted_at, b.status_code, b.response_excerpt, NULL, b.duration_ms
        FROM before AS b WHERE NOT b.recorded
    ), webhooks AS (
        SELECT s.id FROM webhook_subscriptions AS s
        WHERE s.id IN (SELECT b.subscription_id FROM before AS b WHERE b.ours)
        ORDER BY s.id
        FOR NO KEY UPDATE
    ), healthy AS (
        UPDATE webhook_subscriptions AS s SET
            consecutive_failures = 0, failure_streak_started_at = NULL, failing_since = NULL, last_success_at = :now
        WHERE s.id IN (SELECT webhooks.id FROM webhooks)
    )
    SELECT b.id, CASE WHEN b.ours THEN 'succeeded' WHEN b.recorded THEN b.status END AS status
    FROM before AS b
    """
).bindparams(
    bindparam("id", type_=ARRAY(BigInteger)),
    bindparam("attempted_at", type_=_TIMES),
    bindparam("status_code", type_=ARRAY(Integer)),
    bindparam("response_excerpt", type_=ARRAY(Text)),
    bindparam("duration_ms", type_=ARRAY(Float)),
    bindparam("owner", type_=Text),
    bindparam("now", type_=DateTime(timezone=True)),
)
SUCCESS_COLUMNS = ("id", "attempted_at", "status_code", "response_excerpt", "duration_ms")


async def record_successes(
    session: AsyncSession, successes: Sequence[dict[str, Any]], *, owner: str, now: datetime
) -> dict[int, str | None]:
    """Record answered attempts that all succeeded (`successes`: one dict of SUCCESS_COLUMNS each, one per delivery)
    in one statement (see _RECORD_SUCCESSES); each delivery's new status, None where the lease was lost, and no
    entry for a delivery deleted meanwhile."""
    params: dict[str, Any] = {**_columns(successes, SUCCESS_COLUMNS), "owner": owner, "now": now}
    result = await session.execute(_RECORD_SUCCESSES, params)
    return {row.id: row.status for row in result}
