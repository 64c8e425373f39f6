"""PostgreSQL's statements for the delivery loop's hot transactions: recording a batch of attempts (the batch's rows
passed as one array per column and joined in with `unnest`, so the SQL text is the same whatever the batch size;
a batch that all succeeded in one statement), and a claim that reads, decides, leases and returns everything the
bodies need in one statement.

A `VALUES` list or a multi-row `INSERT` differs with every batch size: SQLAlchemy compiled it and asyncpg prepared
it anew for most batches, which cost more CPU than the rows themselves (bench/webhook_delivery.py, docs/benchmarks.md
§14). Here each statement is compiled once and prepared once per connection."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
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


# A claim in one statement: read up to :scan due rows (bot launches first, through their partial index, whose
# predicate must be written as the literal; then the others; each in due order, locked SKIP LOCKED, the webhooks in
# :skip left out), decide which fit their webhook's room, lease those, and return every row read with, for the
# leased ones, everything their bodies need: the envelope's columns, the calendar, the bot and the project's active
# secrets (newest first). One round trip instead of a read, a lease and a second read (calsync.webhooks.claims).
#
# A webhook's room is what claims.Concurrency.limit says (:struggling after a failure, recorded or only known to
# this worker through :failing, else :healthy) less what it has in flight here (:busy_ids / :busy_counts); rows
# fill it in due order. A row whose webhook is inactive or gone (the outer join finds none) is returned unleased
# for the caller to settle. Arrays keep one SQL text, so it is prepared once per connection.
_CLAIM = text(
    """
    WITH launches AS (
        SELECT d.id, d.subscription_id, d.next_attempt_at, s.url, s.is_active, s.consecutive_failures
        FROM webhook_deliveries AS d LEFT JOIN webhook_subscriptions AS s ON s.id = d.subscription_id
        WHERE d.next_attempt_at <= :now AND d.trigger = 'bot.dispatch' AND d.subscription_id <> ALL(:skip)
        ORDER BY d.next_attempt_at, d.id
        LIMIT :scan
        FOR UPDATE OF d SKIP LOCKED
    ), others AS (
        SELECT d.id, d.subscription_id, d.next_attempt_at, s.url, s.is_active, s.consecutive_failures
        FROM webhook_deliveries AS d LEFT JOIN webhook_subscriptions AS s ON s.id = d.subscription_id
        WHERE d.next_attempt_at <= :now AND d.trigger <> 'bot.dispatch' AND d.subscription_id <> ALL(:skip)
        ORDER BY d.next_attempt_at, d.id
        LIMIT :scan - (SELECT count(*) FROM launches)
        FOR UPDATE OF d SKIP LOCKED
    ), due AS (
        SELECT launches.*, 0 AS part FROM launches
        UNION ALL
        SELECT others.*, 1 AS part FROM others
    ), busy AS (
        SELECT * FROM unnest(CAST(:busy_ids AS bigint[]), CAST(:busy_counts AS integer[])) AS b(subscription_id, n)
    ), ranked AS (
        SELECT due.*,
            coalesce(busy.n, 0)
                + row_number() OVER (PARTITION BY due.subscription_id ORDER BY due.part, due.next_attempt_at, due.id)
                AS place,
            CASE WHEN due.consecutive_failures > 0 OR due.subscription_id = ANY(:failing)
                THEN :struggling ELSE :healthy END AS room
        FROM due LEFT JOIN busy ON busy.subscription_id = due.subscription_id
    ), held AS (
        UPDATE webhook_deliveries AS d SET
            lease_owner = :owner, lease_expires_at = :until, next_attempt_at = :until, status = :status
        WHERE d.id IN (SELECT ranked.id FROM ranked WHERE ranked.is_active AND ranked.place <= ranked.room)
        RETURNING d.id, d.idempotency_key, d.trigger, d.data, d.project_id, d.calendar_id, d.bot_object_id
    ), project_keys AS (
        SELECT s.project_id, array_agg(s.encrypted_secret ORDER BY s.created_at DESC, s.id DESC) AS secrets
        FROM webhook_secrets AS s
        WHERE s.project_id IN (SELECT held.project_id FROM held) AND (s.expires_at IS NULL OR s.expires_at > :now)
        GROUP BY s.project_id
    )
    SELECT r.id, r.subscription_id, r.url, coalesce(r.is_active, false) AS is_active, r.consecutive_failures,
        held.id IS NOT NULL AS taken, held.idempotency_key, held.trigger, held.data, held.project_id,
        held.calendar_id, c.object_id AS calendar_object_id, c.deduplication_key AS calendar_deduplication_key,
        c.metadata AS calendar_metadata,
        held.bot_object_id, b.metadata AS bot_metadata,
        project_keys.secrets
    FROM ranked AS r
    LEFT JOIN held ON held.id = r.id
    LEFT JOIN calendars AS c ON c.id = held.calendar_id
    LEFT JOIN bots AS b ON b.object_id = held.bot_object_id
    LEFT JOIN project_keys ON project_keys.project_id = held.project_id
    ORDER BY r.part, r.next_attempt_at, r.id
    """
).bindparams(
    bindparam("now", type_=DateTime(timezone=True)),
    bindparam("skip", type_=ARRAY(BigInteger)),
    bindparam("scan", type_=BigInteger),
    bindparam("busy_ids", type_=ARRAY(BigInteger)),
    bindparam("busy_counts", type_=ARRAY(Integer)),
    bindparam("failing", type_=ARRAY(BigInteger)),
    bindparam("healthy", type_=BigInteger),
    bindparam("struggling", type_=BigInteger),
    bindparam("owner", type_=Text),
    bindparam("until", type_=DateTime(timezone=True)),
    bindparam("status", type_=Text),
)


async def claim(
    session: AsyncSession,
    now: datetime,
    *,
    skip: Sequence[int],
    scan: int,
    in_flight: Mapping[int, int],
    failing: Iterable[int],
    healthy: int,
    struggling: int,
    owner: str,
    until: datetime,
    status: str,
) -> Sequence[Row[Any]]:
    """Read up to `scan` due rows of the webhooks not in `skip`, lease to `owner` until `until` (status `status`)
    those that fit their webhook's room, and return every row read (see _CLAIM), in the order to send them."""
    result = await session.execute(
        _CLAIM,
        {
            "now": now,
            "skip": list(skip),
            "scan": scan,
            "busy_ids": list(in_flight),
            "busy_counts": list(in_flight.values()),
            "failing": list(failing),
            "healthy": healthy,
            "struggling": struggling,
            "owner": owner,
            "until": until,
            "status": status,
        },
    )
    return result.all()


# A batch of answered attempts that all succeeded, recorded in one statement that waits for no webhook (the common
# case: one round trip, no row decoded in Python). Every sub-statement sees the rows as they were before it, so the
# attempt log skips an attempt whose record already committed (a transaction re-run after a dropped connection hid
# its commit: the lease is gone and `last_attempt_at` is this attempt's), and each attempt's status is read from
# that same snapshot; a delivery is settled only while this worker still holds its lease (re-checked on the row's
# newest version, so a row re-claimed meanwhile by another worker is left to it).
#
# A webhook's health is written only when it changes: a failure streak ends, or `last_success_at` is older than
# :stale_before (so one busy webhook's row is not rewritten, and locked, by every batch). Its row is locked SKIP
# LOCKED: a webhook whose row another transaction holds is having its health written by that one right now, and
# the next batch writes it; never waiting on a webhook is also why two workers' batches cannot deadlock here.
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
        WHERE d.id = b.id AND b.ours AND d.lease_owner = :owner AND d.status = 'delivering'
        RETURNING d.id
    ), logged AS (
        INSERT INTO webhook_delivery_attempts
            (delivery_id, attempted_at, status_code, response_excerpt, error, duration_ms)
        SELECT b.id, b.attempted_at, b.status_code, b.response_excerpt, NULL, b.duration_ms
        FROM before AS b WHERE NOT b.recorded
    ), stale AS (
        SELECT s.id FROM webhook_subscriptions AS s
        WHERE s.id IN (SELECT b.subscription_id FROM before AS b WHERE b.ours)
            AND (s.consecutive_failures <> 0 OR s.failure_streak_started_at IS NOT NULL
                OR s.failing_since IS NOT NULL OR s.last_success_at IS NULL OR s.last_success_at < :stale_before)
        ORDER BY s.id
        FOR NO KEY UPDATE SKIP LOCKED
    ), healthy AS (
        UPDATE webhook_subscriptions AS s SET
            consecutive_failures = 0, failure_streak_started_at = NULL, failing_since = NULL, last_success_at = :now
        WHERE s.id IN (SELECT stale.id FROM stale)
    )
    SELECT b.id, CASE WHEN settled.id IS NOT NULL THEN 'succeeded' WHEN b.recorded THEN b.status END AS status
    FROM before AS b LEFT JOIN settled ON settled.id = b.id
    """
).bindparams(
    bindparam("id", type_=ARRAY(BigInteger)),
    bindparam("attempted_at", type_=_TIMES),
    bindparam("status_code", type_=ARRAY(Integer)),
    bindparam("response_excerpt", type_=ARRAY(Text)),
    bindparam("duration_ms", type_=ARRAY(Float)),
    bindparam("owner", type_=Text),
    bindparam("now", type_=DateTime(timezone=True)),
    bindparam("stale_before", type_=DateTime(timezone=True)),
)
# How stale a healthy webhook's `last_success_at` may grow before a batch of successes writes it again.
LAST_SUCCESS_REFRESH = timedelta(seconds=1)
SUCCESS_COLUMNS = ("id", "attempted_at", "status_code", "response_excerpt", "duration_ms")


async def record_successes(
    session: AsyncSession, successes: Sequence[dict[str, Any]], *, owner: str, now: datetime
) -> dict[int, str | None]:
    """Record answered attempts that all succeeded (`successes`: one dict of SUCCESS_COLUMNS each, one per delivery)
    in one statement (see _RECORD_SUCCESSES); each delivery's new status, None where the lease was lost, and no
    entry for a delivery deleted meanwhile."""
    params: dict[str, Any] = {
        **_columns(successes, SUCCESS_COLUMNS),
        "owner": owner,
        "now": now,
        "stale_before": now - LAST_SUCCESS_REFRESH,
    }
    result = await session.execute(_RECORD_SUCCESSES, params)
    return {row.id: row.status for row in result}
