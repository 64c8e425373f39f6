"""The webhook delivery worker: claims due outbox rows and sends them concurrently, never waiting on the slowest.

Shape of one `run_once`: a short write transaction claims what there is room for (leases), the sends start as
background tasks, and `run_once` returns at once. Each task makes one HTTP attempt (no transaction open); its slot
is free as soon as the answer is in, and the attempts are recorded in the background, many per short transaction
(the rows stay leased, so not due, until then). A healthy webhook's claim may take up to `claim_ahead` rows more
than it has slots for: they wait here, and each starts the moment a slot of its webhook frees, so the claim that
refills them runs while a full set of sends is in flight instead of after the last one. So:

- a slow or dead endpoint holds at most `per_subscription` of the `max_in_flight` slots (one, once it is in a
  failure streak), for at most the attempt timeout, and its backlog is skipped in SQL while it has no room:
  others keep flowing; the rows claimed ahead for it are handed back at its first failure;
- a worker killed at any point loses nothing: the claimed rows' leases expire and any worker re-claims them
  (same idempotency key; the receiver can drop the duplicate);
- time (due times, leases, `webhook-timestamp`) comes from `context.clock`, so tests move it instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.context import AppContext
from calsync.ids import lease_owner_id
from calsync.outbound.ssrf import Resolver, TargetPolicy, system_resolver
from calsync.store.due_work import WEBHOOK_DELIVERIES
from calsync.store.models import DeliveryStatus
from calsync.store.transient import DatabaseUnavailable
from calsync.webhooks import claims, metrics
from calsync.webhooks.backoff import RetryPolicy
from calsync.webhooks.sender import AttemptResult, WebhookClient, make_client, send_webhook
from calsync.webhooks.signing import build_headers

log = structlog.get_logger(__name__)

# A quarter of the slots per webhook: a newly dead endpoint holds at most that until its first timeout, while one
# busy webhook (a bot runner) gets batches of 32 or more per claim transaction, which is what a delivery costs most.
MAX_IN_FLIGHT = 256
PER_SUBSCRIPTION = 64
# A webhook whose last attempt failed gets one slot: enough to notice it is back, never enough to crowd others.
PER_STRUGGLING_SUBSCRIPTION = 1
# Rows a healthy webhook may hold beyond its slots, waiting to start here, in multiples of its slots. Sends started
# together finish together: a claim issued once half of them had finished found none left in flight by the time its
# rows came back, and the loop stood idle for the claim's round trips; the claim's wall time grows with its batch,
# so the rows waiting must cover a whole claim's worth of sends (docs/benchmarks.md §14).
CLAIM_AHEAD_ROUNDS = 4
# One claim may fill every free slot: a claim transaction costs about the same for 1 row or 64.
BATCH_SIZE = MAX_IN_FLIGHT
# A claim outlives its attempt (bounded by the timeout; a row claimed ahead starts within CLAIM_AHEAD_ROUNDS attempts
# of its webhook) by this much, for recording it under load.
LEASE_MARGIN_SECONDS = 60.0
# Answered attempts are recorded in batches, in transactions of their own beside the claims: by the recorder once
# this many are waiting, no send is left in flight, or the oldest has waited RECORD_LINGER_SECONDS. A record
# transaction costs about the same for 1 row or 64, and a recorder that started one the moment any answer came in
# could make many small ones. Recorded inside the next claim's transaction instead, they delayed that claim's rows
# by the record's own round trips (docs/benchmarks.md §14). The slot is free when the answer is in: only the row's
# lease waits for the record.
RECORD_BATCH = 32
RECORD_LINGER_SECONDS = 0.02


# Each outcome's counter, bound once, not looked up by label on every attempt.
_ATTEMPTS = {status: metrics.ATTEMPTS.labels(status or "lease_lost") for status in (None, *DeliveryStatus)}


@dataclass
class _Outcome:
    job: claims.Job
    result: AttemptResult
    attempted_at: datetime


@dataclass(frozen=True)
class _Waiting:
    """A row claimed ahead of its webhook's free slots, and when its lease ends."""

    job: claims.Job
    lease_until: datetime


class _WebhookQueue:
    """One webhook's rows waiting to start: bot launches first, each kind in claim order. A launch claimed after
    other rows were claimed ahead must not wait behind them (a launch is late the moment it waits; claims take
    launches first for the same reason)."""

    __slots__ = ("launches", "others")

    def __init__(self) -> None:
        self.launches: deque[_Waiting] = deque()
        self.others: deque[_Waiting] = deque()

    def __len__(self) -> int:
        return len(self.launches) + len(self.others)

    def append(self, item: _Waiting) -> None:
        (self.launches if item.job.launch else self.others).append(item)

    def popleft(self) -> _Waiting:
        return self.launches.popleft() if self.launches else self.others.popleft()

    def items(self) -> list[_Waiting]:
        return [*self.launches, *self.others]


class WebhookDeliveryLoop:
    name = WEBHOOK_DELIVERIES.waiter

    def __init__(
        self,
        context: AppContext,
        *,
        client: WebhookClient | None = None,
        resolver: Resolver = system_resolver,
        max_in_flight: int = MAX_IN_FLIGHT,
        per_subscription: int = PER_SUBSCRIPTION,
        per_struggling_subscription: int = PER_STRUGGLING_SUBSCRIPTION,
        claim_ahead_rounds: int = CLAIM_AHEAD_ROUNDS,
        batch_size: int = BATCH_SIZE,
        rng: random.Random | None = None,
    ) -> None:
        settings = context.settings
        self.context = context
        self.owner = lease_owner_id()
        self.max_in_flight = max_in_flight
        self.per_subscription = per_subscription
        self.per_struggling_subscription = min(per_struggling_subscription, per_subscription)
        self.claim_ahead = claim_ahead_rounds * per_subscription
        # Rows held (sending or waiting) at most: every slot, and as many again per round claimed ahead.
        self.max_held = max_in_flight * (1 + claim_ahead_rounds)
        self.batch_size = batch_size
        self.timeout = settings.webhook_timeout_seconds
        self.lease = timedelta(
            seconds=max(settings.lease_seconds, (1 + claim_ahead_rounds) * self.timeout + LEASE_MARGIN_SECONDS)
        )
        self.target_policy = TargetPolicy.from_settings(settings)
        self.retry_policy = RetryPolicy.from_settings(settings)
        self.resolver = resolver
        self.rng = rng or random.Random()
        self._client = client
        self._owns_client = client is None
        self._tasks: dict[asyncio.Task[None], claims.Job] = {}
        # Per webhook: sends in flight, rows held (in flight or waiting here), and the rows waiting in claim order.
        self._sending: Counter[int] = Counter()
        self._held: Counter[int] = Counter()
        self._waiting: dict[int, _WebhookQueue] = {}
        # The slots that applied at each held webhook's last claim (healthy or struggling).
        self._limits: dict[int, int] = {}
        self._releases: set[asyncio.Task[None]] = set()
        self._to_record: list[_Outcome] = []
        self._recorder: asyncio.Task[None] | None = None
        # Set when the waiting outcomes should be recorded now rather than after the linger.
        self._record_now = asyncio.Event()
        # Webhooks whose last attempt here failed: in a failure streak before the record of it says so.
        self._failing: set[int] = set()
        # Set when due work was left for lack of room: finishing a send then wakes the runner (see _finished).
        self._backlogged = False
        self._out_of_room = False
        # The last claim took rows and saw every due row it had room for (see run_once).
        self._saw_all_due = False
        # A claim is running, and a send made room meanwhile: the claim decides whether to claim again (a kick
        # would be remembered and wake the runner for a claim that the one running may already have served).
        self._claiming = False
        self._room_made_while_claiming = False

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def _http(self) -> WebhookClient:
        if self._client is None:
            self._client = make_client(max_connections=max(100, self.max_in_flight))
        return self._client

    async def run_once(self) -> int:
        if self._saw_all_due:
            # The runner calls again at once after a claim that took rows; when that claim saw every due row it
            # had room for, another would find none (a kick for new rows persists and wakes the runner anyway).
            self._saw_all_due = False
            return 0
        room = self.max_held - sum(self._held.values())
        self._out_of_room = room <= 0
        if room <= 0:
            self._backlogged = True
            return 0
        # A webhook is claimed for again only once half of what it may hold is free: one claim transaction then
        # takes several of its deliveries, not one per finished send (a bot runner's 10,000 dispatches in a minute
        # are one webhook's backlog; bench/bot_dispatch.py).
        full = [sub_id for sub_id, n in self._held.items() if n > self._refill_level(sub_id)]
        # The claim fits rows to what each webhook may hold; which of them start now is decided here (_start_waiting).
        concurrency = claims.Concurrency(
            self.per_subscription + self.claim_ahead,
            self.per_struggling_subscription,
            dict(self._held),
            frozenset(self._failing),
        )

        limit = min(room, self.batch_size)

        async def claim_due(session: AsyncSession) -> tuple[datetime, claims.Claim]:
            now = self.context.clock()
            return now, await claims.claim_due(
                session,
                self.context.secrets,
                owner=self.owner,
                now=now,
                lease=self.lease,
                limit=limit,
                concurrency=concurrency,
                full=full,
            )

        self._claiming, self._room_made_while_claiming = True, False
        # Sends that finished since the runner woke kicked it again; this claim serves those kicks.
        self.context.work_signal.forget(self.name)
        try:
            claimed_at, claim = await WEBHOOK_DELIVERIES.run(self.context.db, claim_due, what="claim_deliveries")
        finally:
            self._claiming = False
        self._backlogged = claim.deferred > 0 or bool(full)
        self._saw_all_due = len(claim.jobs) + claim.finished > 0 and claim.exhausted
        if self._room_made_while_claiming and any(self._held[sub_id] <= self._refill_level(sub_id) for sub_id in full):
            # A webhook this claim skipped as full came down to its refill level while it ran: claim again now.
            self._saw_all_due = False
            if not claim.jobs and not claim.finished:
                WEBHOOK_DELIVERIES.kick(self.context.work_signal)
        lease_until = claimed_at + self.lease
        for job in claim.jobs:
            sub_id = job.subscription_id
            self._held[sub_id] += 1
            self._limits[sub_id] = self.per_struggling_subscription if job.struggling else self.per_subscription
            self._waiting.setdefault(sub_id, _WebhookQueue()).append(_Waiting(job, lease_until))
        self._start_waiting(sub_ids=list(self._waiting))
        return len(claim.jobs) + claim.finished

    def _hold_limit(self, subscription_id: int) -> int:
        slots = self._limits.get(subscription_id, self.per_subscription)
        return slots + self.claim_ahead if slots == self.per_subscription else slots

    def _refill_level(self, subscription_id: int) -> int:
        """Held at or below this, a webhook is claimed for again: half of what it may hold (0 for a struggling
        one)."""
        return self._hold_limit(subscription_id) // 2

    def _start_waiting(self, sub_ids: list[int]) -> None:
        """Start the waiting rows of these webhooks, in claim order, while they and the worker have free slots.
        A row whose lease would end before its attempt could be recorded is handed back instead."""
        now: datetime | None = None  # read once, and only when a row starts (this runs on every finished send)
        late: list[int] = []
        for sub_id in sub_ids:
            waiting = self._waiting.get(sub_id)
            while waiting and len(self._tasks) < self.max_in_flight and self._sending[sub_id] < self._limits[sub_id]:
                item = waiting.popleft()
                now = now or self.context.clock()
                if (item.lease_until - now).total_seconds() < self.timeout + LEASE_MARGIN_SECONDS / 2:
                    late.append(item.job.delivery_id)
                    self._let_go(sub_id)
                    continue
                self._sending[sub_id] += 1
                task = asyncio.create_task(self._deliver(item.job), name=f"webhook-{item.job.delivery_id}")
                self._tasks[task] = item.job
                task.add_done_callback(self._finished)
            if not waiting:
                self._waiting.pop(sub_id, None)
        if late:
            self._release_in_background(late)

    def _let_go(self, subscription_id: int, rows: int = 1) -> None:
        """Rows of this webhook are no longer held here (sent, or handed back)."""
        self._held[subscription_id] -= rows
        if self._held[subscription_id] <= 0:
            del self._held[subscription_id]
            self._limits.pop(subscription_id, None)

    def _hand_back_waiting(self, subscription_id: int) -> None:
        """Hand back the rows waiting for a webhook that just failed: at one slot, as a failing webhook gets, they
        would outlive their leases, and the next claim takes them at its struggling pace."""
        waiting = self._waiting.pop(subscription_id, None)
        if not waiting:
            return
        items = waiting.items()
        self._let_go(subscription_id, len(items))
        self._release_in_background([item.job.delivery_id for item in items])

    def _finished(self, task: asyncio.Task[None]) -> None:
        job = self._tasks.pop(task)
        sub_id = job.subscription_id
        refill_level = self._refill_level(sub_id)
        self._sending[sub_id] -= 1
        if self._sending[sub_id] <= 0:
            del self._sending[sub_id]
        self._let_go(sub_id)
        if sub_id in self._failing:
            self._hand_back_waiting(sub_id)
        # This slot goes to the next row waiting for its webhook; else, the worker's slot to another's.
        self._start_waiting([sub_id] if sub_id in self._waiting else list(self._waiting))
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook_delivery_task_failed", delivery_id=job.delivery_id, error=repr(task.exception()))
        if not self._tasks:
            self._record_now.set()  # no more answers are coming soon: record what is waiting
        # Wake the runner when this send made room that a claim can use: its webhook came down to the refill
        # level, or the worker had no room at all. Waking on every finished send would claim one row at a time.
        if self._backlogged and (self._held[sub_id] <= refill_level or self._out_of_room):
            if self._claiming:
                self._room_made_while_claiming = True
            else:
                WEBHOOK_DELIVERIES.kick(self.context.work_signal)

    async def _attempt(self, job: claims.Job, attempted_at: datetime) -> AttemptResult:
        if not job.secrets:
            return AttemptResult(None, "", claims.NO_SECRET_ERROR, 0.0, False)
        timestamp = int(attempted_at.timestamp())
        headers = build_headers(job.body, secrets=job.secrets, webhook_id=job.idempotency_key, timestamp=timestamp)
        return await send_webhook(
            self._http(), job.url, job.body, headers, self.timeout, policy=self.target_policy, resolver=self.resolver
        )

    async def _deliver(self, job: claims.Job) -> None:
        attempted_at = self.context.clock()
        result = await self._attempt(job, attempted_at)
        if result.succeeded:
            self._failing.discard(job.subscription_id)
        else:
            self._failing.add(job.subscription_id)
        self._to_record.append(_Outcome(job, result, attempted_at))
        self._start_recorder(at_once=len(self._to_record) >= RECORD_BATCH)
        # The task, and with it the endpoint's slot, ends here: the next claim need not wait for this attempt's
        # record (a transaction on every delivery's critical path otherwise, for one endpoint: a bot runner's).

    def _start_recorder(self, *, at_once: bool) -> None:
        if self._recorder is None or self._recorder.done():
            self._record_now.clear()  # (set by the last send of an earlier batch)
            self._recorder = asyncio.create_task(self._record_pending())
        if at_once:
            self._record_now.set()

    async def _record(self, session: AsyncSession, attempts: list[claims.Attempted], now: datetime) -> list[str | None]:
        return await claims.record_attempts(
            session, attempts, owner=self.owner, now=now, policy=self.retry_policy, rng=self.rng
        )

    async def _record_pending(self) -> None:
        """Record finished attempts in batches (see RECORD_BATCH) until none is waiting."""
        while self._to_record:
            if len(self._to_record) < RECORD_BATCH and self._tasks:
                # More answers are coming: wait for a fuller batch, a claim that takes these, or the linger's end.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(RECORD_LINGER_SECONDS):
                        await self._record_now.wait()
            self._record_now.clear()
            batch, self._to_record = self._to_record, []
            if not batch:
                continue  # a claim recorded them meanwhile
            statuses: list[str | None] = []
            attempts = [claims.Attempted(o.job, o.result, o.attempted_at) for o in batch]

            async def record(session: AsyncSession, attempts: list[claims.Attempted] = attempts) -> list[str | None]:
                return await self._record(session, attempts, self.context.clock())

            try:
                # A dropped connection or deadlock re-runs the batch (record_attempts reads before it writes);
                # only a database that stays down leaves the rows to their lease, to be attempted again.
                statuses = await self.context.db.write_retrying(record, what="record_deliveries")
            except DatabaseUnavailable as exc:
                log.warning(
                    "webhook_record_deferred_to_lease",
                    delivery_ids=[o.job.delivery_id for o in batch],
                    database_fault=exc.kind,
                )
            except Exception:
                # The leases expire and these deliveries are attempted again: at least once, never lost.
                log.exception("webhook_record_failed", delivery_ids=[o.job.delivery_id for o in batch])
            self._recorded(batch, statuses)

    def _recorded(self, batch: list[_Outcome], statuses: list[str | None]) -> None:
        """Count and log what a record transaction settled (`statuses` is empty when it did not commit)."""
        for outcome, status in zip(batch, statuses, strict=False):
            (_ATTEMPTS.get(status) or metrics.ATTEMPTS.labels(status)).inc()
            metrics.ATTEMPT_SECONDS.observe(outcome.result.duration_ms / 1000)
            if status is None:
                log.warning("webhook_lease_lost", delivery_id=outcome.job.delivery_id)
            elif status != "succeeded":
                log.info(
                    "webhook_attempt_failed",
                    delivery_id=outcome.job.delivery_id,
                    status=status,
                    error=outcome.result.error,
                )

    def _release_in_background(self, delivery_ids: list[int]) -> None:
        task = asyncio.create_task(self._release(delivery_ids))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _release(self, delivery_ids: list[int]) -> None:
        """Hand rows back, due now for any worker; if the database is down their leases expire instead."""

        async def release(session: AsyncSession) -> None:
            await claims.release(session, delivery_ids, owner=self.owner, now=self.context.clock())

        try:
            await self.context.db.write_retrying(release, what="release_deliveries")
        except DatabaseUnavailable:
            log.warning("webhook_release_deferred_to_lease", delivery_ids=delivery_ids)
        except Exception:
            log.exception("webhook_release_failed", delivery_ids=delivery_ids)

    def _hand_back_all_waiting(self) -> None:
        for sub_id in list(self._waiting):
            self._hand_back_waiting(sub_id)

    async def _settle(self) -> None:
        """Until every started send has ended, every attempt is recorded and every hand-back is done."""
        while self._tasks or self._releases or (self._recorder is not None and not self._recorder.done()):
            await asyncio.gather(*list(self._tasks), *list(self._releases), return_exceptions=True)
            if self._recorder is not None:
                await asyncio.gather(self._recorder, return_exceptions=True)

    async def drain(self) -> None:
        """Hand back the rows waiting here, and wait until every started send has been attempted and recorded (the
        runner calls this on shutdown; each send is bounded by the attempt timeout). The HTTP client is closed and
        re-made on next use."""
        self._hand_back_all_waiting()
        await self._settle()
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def aclose(self) -> None:
        """Stop: cancel sends in flight and hand their rows, and those waiting, back so another worker takes them
        now."""
        self._hand_back_all_waiting()
        pending = {task: job for task, job in self._tasks.items() if not task.done()}
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._settle()  # what was answered is recorded (else its lease expires and it is sent again)
        if pending:
            await self._release([job.delivery_id for job in pending.values()])
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None
