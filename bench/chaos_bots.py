"""Bots under chaos: each bot due during the chaos is dispatched exactly once, and on time.

The harness (bench/chaos.py) creates bots without a calendar event (`meeting_url` + `join_at`), their dispatch
times spread evenly over the chaos window, before the chaos starts; workers (or the whole `serve`) are then killed
and the database blinks while they fall due. After the chaos, against the API and what the webhook receiver got:

  bots_not_dispatched  a bot due during the chaos that is not `dispatched` (with its `dispatched_at`)
  bots_early           dispatched before its `dispatch_at`
  bots_late            dispatched more than ON_TIME_SECONDS after `dispatch_at`, not counting the time in that
                       span when nothing could dispatch (the only `serve` killed until it answered again, a
                       deliberate database outage), each such span extended by RECOVERY_SECONDS
  bots_doubled         more than one `bot.dispatch` idempotency key received for one bot (redelivery under the
                       same key is at-least-once delivery, allowed)
  bots_unannounced     a dispatched bot whose `bot.dispatch` was never received verified and acknowledged
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from _common import pct

ON_TIME_SECONDS = 3.0
RECOVERY_SECONDS = 5.0  # a process that answers again (or a database that is back) dispatches within this
JOIN_AFTER_DISPATCH_SECONDS = 60
VIOLATIONS = ("bots_not_dispatched", "bots_early", "bots_late", "bots_doubled", "bots_unannounced")


class ReceivedDelivery(Protocol):
    verified: bool
    acked: bool
    trigger: str | None
    bot_id: str | None
    idempotency_key: str | None


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def overlap(start: float, end: float, spans: Iterable[tuple[float, float]]) -> float:
    """Seconds of [start, end] covered by the union of `spans` (epoch seconds)."""
    covered, cursor = 0.0, start
    for span_start, span_end in sorted(spans):
        low, high = max(span_start, cursor), min(span_end, end)
        if high > low:
            covered += high - low
            cursor = high
    return covered


@dataclass
class BotSchedule:
    """The bots created for one chaos run and what became of them."""

    count: int
    due: dict[str, datetime] = field(default_factory=dict)  # bot id -> dispatch_at

    async def create(
        self, post: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]], first_due: datetime, last_due: datetime
    ) -> None:
        """`post` creates one bot (POST /api/v1/bots) and returns its object."""
        if self.count <= 0:
            return
        step = (last_due - first_due) / max(1, self.count - 1)
        semaphore = asyncio.Semaphore(8)

        async def one(index: int) -> None:
            dispatch_at = first_due + step * index
            body = {
                "meeting_url": f"https://zoom.us/j/{9_100_000_000 + index}",
                "join_at": iso(dispatch_at + timedelta(seconds=JOIN_AFTER_DISPATCH_SECONDS)),
                "dispatch_lead_seconds": JOIN_AFTER_DISPATCH_SECONDS,
                "bot_name": f"chaos bot {index}",
                "deduplication_key": f"chaos-bot-{index}",
            }
            async with semaphore:
                bot = await post(body)
            self.due[bot["id"]] = parse_time(bot["dispatch_at"])

        await asyncio.gather(*(one(index) for index in range(self.count)))

    def check(
        self,
        bots: list[dict[str, Any]],
        deliveries: Iterable[ReceivedDelivery],
        unavailable: list[tuple[float, float]],
    ) -> tuple[dict[str, list[Any]], dict[str, Any]]:
        """Violations by kind, and the dispatch lags (seconds after `dispatch_at`) for the report."""
        violations: dict[str, list[Any]] = defaultdict(list)
        keys: dict[str, set[str]] = defaultdict(set)
        announced: set[str] = set()
        for delivery in deliveries:
            if delivery.trigger != "bot.dispatch" or not delivery.verified or delivery.bot_id is None:
                continue
            keys[delivery.bot_id].add(delivery.idempotency_key or "")
            if delivery.acked:
                announced.add(delivery.bot_id)
        spans = [(start, end + RECOVERY_SECONDS) for start, end in unavailable]
        rows = {row["id"]: row for row in bots}
        lags: list[float] = []
        for bot_id, dispatch_at in self.due.items():
            row = rows.get(bot_id)
            if row is None or row["state"] != "dispatched" or not row["dispatched_at"]:
                state = row and {"state": row["state"], "reason": row["state_reason"]}
                violations["bots_not_dispatched"].append(
                    {"bot": bot_id, "dispatch_at": iso(dispatch_at), **(state or {})}
                )
                continue
            dispatched_at = parse_time(row["dispatched_at"])
            lag = (dispatched_at - dispatch_at).total_seconds()
            lags.append(lag)
            where = {"bot": bot_id, "dispatch_at": iso(dispatch_at), "dispatched_at": row["dispatched_at"]}
            if lag < 0:
                violations["bots_early"].append(where)
            excused = overlap(dispatch_at.timestamp(), dispatched_at.timestamp(), spans)
            if lag - excused > ON_TIME_SECONDS:
                violations["bots_late"].append({**where, "lag": round(lag, 3), "excused": round(excused, 1)})
            if len(keys[bot_id]) > 1:
                violations["bots_doubled"].append({"bot": bot_id, "idempotency_keys": sorted(keys[bot_id])})
            if bot_id not in announced:
                violations["bots_unannounced"].append(where)
        stats = {
            "bots": len(self.due),
            "dispatched": len(lags),
            "lag_p50": round(pct(lags, 0.5), 3) if lags else None,
            "lag_p99": round(pct(lags, 0.99), 3) if lags else None,
            "lag_max": round(max(lags), 3) if lags else None,
        }
        return dict(violations), stats
