"""The chaos harness's bot verdicts (bench/chaos_bots.py): what counts as late, doubled or unannounced."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from chaos_bots import ON_TIME_SECONDS, RECOVERY_SECONDS, BotSchedule, iso, overlap

DUE = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


@dataclass
class Received:
    bot_id: str | None
    idempotency_key: str | None
    trigger: str | None = "bot.dispatch"
    verified: bool = True
    acked: bool = True


def _row(bot_id: str, lag: float | None, state: str = "dispatched") -> dict:
    dispatched = None if lag is None else iso(DUE + timedelta(seconds=lag))
    return {"id": bot_id, "state": state, "state_reason": None, "dispatched_at": dispatched}


def _schedule(*ids: str) -> BotSchedule:
    schedule = BotSchedule(len(ids))
    schedule.due = dict.fromkeys(ids, DUE)
    return schedule


def test_overlap_counts_the_union_of_spans_once() -> None:
    assert overlap(0, 10, [(2, 4), (3, 6), (8, 20)]) == 6
    assert overlap(0, 10, []) == 0
    assert overlap(5, 6, [(0, 1)]) == 0


def test_on_time_dispatch_once_announced_is_clean() -> None:
    violations, stats = _schedule("bot_a").check([_row("bot_a", 0.2)], [Received("bot_a", "k1")], [])
    assert violations == {}
    assert stats["dispatched"] == 1 and stats["lag_max"] == 0.2


def test_late_unless_nothing_could_dispatch_meanwhile() -> None:
    late = ON_TIME_SECONDS + 4
    rows, received = [_row("bot_a", late)], [Received("bot_a", "k1")]
    violations, _ = _schedule("bot_a").check(rows, received, [])
    assert [v["bot"] for v in violations["bots_late"]] == ["bot_a"]
    down = DUE.timestamp() - 1
    excused, _ = _schedule("bot_a").check(rows, received, [(down, down + late - RECOVERY_SECONDS)])
    assert excused == {}


def test_two_idempotency_keys_are_a_double_dispatch_one_key_redelivered_is_not() -> None:
    schedule = _schedule("bot_a", "bot_b")
    received = [Received("bot_a", "k1"), Received("bot_a", "k1"), Received("bot_b", "k2"), Received("bot_b", "k3")]
    violations, _ = schedule.check([_row("bot_a", 0.1), _row("bot_b", 0.1)], received, [])
    assert [v["bot"] for v in violations["bots_doubled"]] == ["bot_b"]


def test_early_undispatched_and_unannounced() -> None:
    schedule = _schedule("bot_a", "bot_b", "bot_c")
    rows = [_row("bot_a", -0.5), _row("bot_b", None, state="scheduled"), _row("bot_c", 0.1)]
    received = [Received("bot_a", "k1"), Received("bot_c", "k3", acked=False), Received("bot_c", None, verified=False)]
    violations, _ = schedule.check(rows, received, [])
    assert [v["bot"] for v in violations["bots_early"]] == ["bot_a"]
    assert [v["bot"] for v in violations["bots_not_dispatched"]] == ["bot_b"]
    assert [v["bot"] for v in violations["bots_unannounced"]] == ["bot_c"]
