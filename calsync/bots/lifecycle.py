"""The state machine (calsync.bots.rules) applied to stored bots, inside the transaction of the change that moves
them: a sync page that changed their events, a sync that disconnected or reconnected their calendar, a calendar
deletion, an API request. Each writes the bots' new state and their `bot.*` webhooks in that one transaction.

Lock order (docs/architecture.md): callers already hold the calendar row where there is one; bot rows are taken
here (`FOR NO KEY UPDATE`, level 2 with the calendar's events and outbox rows), before any webhook row or the
change clock. Every function derives what it writes from what it reads, so a transaction re-run after
a transient fault writes nothing twice.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.util.typing import TupleAny

from calsync.bots import payloads, rules
from calsync.store.models import Bot, Calendar, CalendarEvent, CalendarState
from calsync.store.models.bot import LIVE_STATES
from calsync.store.work_signal import BOT_DISPATCH_LOOP, notify_work_in_transaction
from calsync.webhooks.outbox import Outgoing, enqueue_webhooks
from calsync.webhooks.payloads import BOT_STATE_CHANGE, BOT_UPDATED

# The event columns a bot follows: a page that changes none of them costs the bots nothing.
FOLLOWED_FIELDS = ("start_time", "end_time", "meeting_url", "is_deleted")
_MICROSECOND = timedelta(microseconds=1)
S = TypeVar("S", bound="Select[*TupleAny]")


def facts(bot: Bot) -> rules.BotFacts:
    reason = bot.state_reason or {}
    return rules.BotFacts(
        state=bot.state,
        reason_code=reason.get("code"),
        join_at=bot.join_at,
        dispatch_at=bot.dispatch_at,
        meeting_url=bot.meeting_url,
        join_offset=timedelta(seconds=bot.join_offset_seconds),
        dispatch_lead=timedelta(seconds=bot.dispatch_lead_seconds),
    )


def meeting(values: Mapping[str, Any]) -> rules.Meeting:
    """An event's followed fields (a stored row's, or a page's values for it) as the rules see them."""
    return rules.Meeting(values["start_time"], values["end_time"], values["meeting_url"], bool(values["is_deleted"]))


def event_meeting(event: CalendarEvent) -> rules.Meeting:
    return rules.Meeting(event.start_time, event.end_time, event.meeting_url, event.is_deleted)


@dataclass
class BotChanges:
    """The webhooks and wake-ups that bot changes of one project call for, written at the end of the transaction."""

    project_id: int
    webhooks: list[Outgoing] = field(default_factory=list)
    due: bool = False  # a bot's dispatch time was set: dispatchers elsewhere must re-read the next due time
    touched: bool = False  # some bot changed

    def apply(self, bot: Bot, outcome: rules.Outcome, now: datetime) -> bool:
        """Write `outcome` onto `bot` and queue the webhooks it calls for; False when nothing changed."""
        previous_state, previous_join_at, previous_url = bot.state, bot.join_at, bot.meeting_url
        moved = outcome.join_at != previous_join_at or outcome.meeting_url != previous_url
        same_state = outcome.state == previous_state and outcome.reason is None
        if not moved and same_state and outcome.dispatch_at == bot.dispatch_at:
            return False
        self.touched = True
        bot.join_at, bot.dispatch_at, bot.meeting_url = outcome.join_at, outcome.dispatch_at, outcome.meeting_url
        if bot.dispatch_due_at != outcome.due_at:
            self.due = self.due or outcome.due_at is not None
            bot.dispatch_due_at = outcome.due_at
        if outcome.reason is not None:
            bot.state_reason = outcome.reason.json()
        if outcome.state == rules.SCHEDULED and previous_state == rules.DISPATCHED:
            bot.dispatched_at = None  # standing down: the dispatch it had no longer holds
        bot.state = outcome.state
        bot.updated_at = max(now, bot.updated_at + _MICROSECOND)
        if moved:
            data = payloads.updated_data(bot, previous_join_at=previous_join_at, previous_meeting_url=previous_url)
            self.add(bot, BOT_UPDATED, data)
        if outcome.state != previous_state:
            self.add(bot, BOT_STATE_CHANGE, payloads.state_change_data(bot, previous_state))
        return True

    def add(self, bot: Bot, trigger: str, data: dict[str, Any]) -> None:
        self.webhooks.append(self.outgoing(bot, trigger, data))

    @staticmethod
    def outgoing(bot: Bot, trigger: str, data: dict[str, Any]) -> Outgoing:
        return Outgoing(trigger, data, calendar_object_id=bot.calendar_object_id, bot_object_id=bot.object_id)

    async def write(self, session: AsyncSession, now: datetime) -> int:
        """Queue the webhooks (one read of the subscriptions, one insert) and NOTIFY dispatchers of new due times;
        the caller kicks its own process's work signal after the commit. Returns the webhook rows written."""
        written = await enqueue_webhooks(session, self.project_id, self.webhooks, now)  # notifies delivery
        if self.due:
            await notify_work_in_transaction(session, BOT_DISPATCH_LOOP)
        return written

    @property
    def wake(self) -> bool:
        """Whether a worker has something new to do after the commit."""
        return self.due or bool(self.webhooks)


def _locked(statement: S) -> S:
    # NO KEY UPDATE: bot writes change no key, and the dispatch claim skips what is locked here (SKIP LOCKED).
    return statement.with_for_update(of=Bot, key_share=True).execution_options(populate_existing=True)


async def follow_events(
    session: AsyncSession,
    calendar: Calendar,
    updated_rows: Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]],
    now: datetime,
    *,
    stand_down: timedelta,
) -> BotChanges:
    """The bots of a sync page's changed events follow them. `updated_rows` are (stored row, written values) of
    the page's updated events (a tombstone writes only `is_deleted`). One indexed query for the bots of the events
    whose followed fields changed, none when there are none."""
    changes = BotChanges(calendar.project_id)
    moved: dict[int, tuple[rules.Meeting, rules.Meeting]] = {}
    for stored, values in updated_rows:
        if any(name in values and values[name] != stored[name] for name in FOLLOWED_FIELDS):
            moved[stored["id"]] = (meeting(stored), meeting({**stored, **values}))
    if not moved:
        return changes
    bots = (await session.execute(_locked(select(Bot).where(Bot.event_id.in_(list(moved))).order_by(Bot.id)))).scalars()
    connected = calendar.state == CalendarState.CONNECTED.value
    for bot in list(bots):
        assert bot.event_id is not None
        previous, current = moved[bot.event_id]
        outcome = rules.follow(
            facts(bot), current, previous_end=previous.end_time, connected=connected, now=now, stand_down=stand_down
        )
        if bot.state in rules.ENDED and outcome.state not in rules.ENDED and await _key_taken(session, bot):
            continue  # its key went to a newer bot meanwhile: that one stands, this one stays ended
        changes.apply(bot, outcome, now)
    return changes


async def _key_taken(session: AsyncSession, bot: Bot) -> bool:
    """Whether another live bot of the project holds this ended bot's deduplication key (which it gave up when it
    ended). A create racing with the revival loses to it on the unique index (400), or the sync page does and is
    retried, then finds the key taken here."""
    if bot.deduplication_key is None:
        return False
    statement = select(Bot.id).where(
        Bot.project_id == bot.project_id,
        Bot.deduplication_key == bot.deduplication_key,
        Bot.state.in_(LIVE_STATES),
        Bot.id != bot.id,
    )
    return (await session.execute(statement.limit(1))).first() is not None


async def _calendar_bots(
    session: AsyncSession, calendar_id: int, states: Iterable[str]
) -> list[tuple[Bot, CalendarEvent | None]]:
    statement = (
        select(Bot, CalendarEvent)
        .outerjoin(CalendarEvent, CalendarEvent.id == Bot.event_id)
        .where(Bot.calendar_id == calendar_id, Bot.state.in_(list(states)))
        .order_by(Bot.id)
    )
    return [(bot, event) for bot, event in (await session.execute(_locked(statement))).all()]


async def calendar_disconnected(session: AsyncSession, calendar: Calendar, now: datetime) -> BotChanges:
    """Its scheduled bots pause (in the transaction that disconnects the calendar)."""
    changes = BotChanges(calendar.project_id)
    for bot, _event in await _calendar_bots(session, calendar.id, [rules.SCHEDULED]):
        changes.apply(bot, rules.pause(facts(bot)), now)
    return changes


async def calendar_reconnected(
    session: AsyncSession, calendar: Calendar, now: datetime, *, stand_down: timedelta
) -> BotChanges:
    """Its paused bots are scheduled again if their meeting can still be joined (due at once if their dispatch
    time passed meanwhile), or fail (in the transaction that reconnects the calendar)."""
    changes = BotChanges(calendar.project_id)
    for bot, event in await _calendar_bots(session, calendar.id, [rules.PAUSED]):
        if event is None:
            continue  # (its event went with its calendar, which cancelled it: not reachable while paused)
        outcome = rules.follow(
            facts(bot),
            event_meeting(event),
            previous_end=None,
            connected=True,
            now=now,
            stand_down=stand_down,
            late=rules.MISSED_WHILE_PAUSED,
        )
        changes.apply(bot, outcome, now)
    return changes


async def calendar_deleted(
    session: AsyncSession, calendar: Calendar, now: datetime, *, handed_over: Collection[int] = ()
) -> BotChanges:
    """Its live bots are cancelled, before its events are deleted (a dispatched bot whose meeting is over is left
    as it is: it did its job; so are the bots in `handed_over`, which another calendar's copy of their meeting
    takes over)."""
    changes = BotChanges(calendar.project_id)
    for bot, event in await _calendar_bots(session, calendar.id, LIVE_STATES):
        if bot.id in handed_over:
            continue
        if bot.state == rules.DISPATCHED and event is not None and event.end_time <= now:
            continue
        changes.apply(bot, rules.cancel(facts(bot), rules.CALENDAR_DELETED), now)
    return changes


async def lock_bot(session: AsyncSession, project_id: int, object_id: str) -> Bot | None:
    statement = select(Bot).where(Bot.project_id == project_id, Bot.object_id == object_id)
    return (await session.execute(_locked(statement))).scalar_one_or_none()


async def cancel_bot(
    session: AsyncSession, project_id: int, object_id: str, now: datetime, reason: rules.Reason
) -> tuple[Bot, BotChanges] | None:
    """Cancel the project's bot (`DELETE /api/v1/bots/{id}` and the dashboard's Cancel): cancelled for good, and a
    dispatched bot's runner is told by `bot.state_change`. None when the project has no such bot. The caller
    commits, then kicks its work signal if `changes.wake`."""
    bot = await lock_bot(session, project_id, object_id)
    if bot is None:
        return None
    changes = BotChanges(bot.project_id)
    changes.apply(bot, rules.cancel(facts(bot), reason), now)
    await changes.write(session, now)
    return bot, changes
