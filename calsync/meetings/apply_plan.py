"""Carrying out meetings' bot plans (calsync.meetings.bot_policy) on the stored bots, in the evaluation's
transaction: a bot's new state and its `bot.*` webhooks through calsync.bots.lifecycle.BotChanges, a new rule bot
added to the session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from calsync.bots import rules as bot_rules
from calsync.bots.lifecycle import BotChanges
from calsync.bots.payloads import BOT_ID_PREFIX
from calsync.ids import new_id
from calsync.meetings import bot_policy
from calsync.meetings.bot_policy import Plan
from calsync.store.models import Bot, Calendar
from calsync.store.models.bot import LIVE_STATES


@dataclass
class Executor:
    """One project's evaluation: where bots are written, and the rows they are written from."""

    session: AsyncSession
    project_id: int
    now: datetime
    changes: BotChanges
    bots: dict[int, Bot]  # the locked rule bots of the batch's meetings, by id
    calendars: dict[int, Calendar]  # the member events' calendars, by id

    def carry_out(self, plan: Plan, meeting_id: str, manual: Bot | None) -> Bot | None:
        """Apply `plan` to the meeting's rule bot; returns the live bot serving the meeting, if any (`manual`: the
        live bot the application created on one of its events)."""
        bot = self.bots.get(plan.bot_id) if plan.bot_id is not None else None
        if plan.adopted and bot is not None:
            bot.meeting_object_id = meeting_id  # it went with its event
        if plan.action == bot_policy.CREATE:
            return self._create(plan, meeting_id)
        if bot is not None and plan.outcome is not None:
            if plan.action == bot_policy.CANCEL:
                self.changes.apply(bot, plan.outcome, self.now)
            elif plan.action == bot_policy.FOLLOW:
                self._follow(plan, bot)
        if plan.serves == bot_policy.MANUAL:
            return manual
        if plan.serves == bot_policy.RULE_BOT and bot is not None and bot.state in LIVE_STATES:
            return bot
        return None

    def _follow(self, plan: Plan, bot: Bot) -> None:
        assert plan.target is not None and plan.outcome is not None
        rule = plan.settings
        if rule is not None:
            # The bot takes the selecting rule's settings (its timing follows, as an event move would).
            bot.rule_object_id, bot.bot_name, bot.metadata_ = rule.rule_id, rule.bot_name, rule.metadata
            if bot.state != bot_rules.DISPATCHED:
                bot.join_offset_seconds = rule.join_offset_seconds
                bot.dispatch_lead_seconds = rule.dispatch_lead_seconds
        target = plan.target
        if bot.event_id != target.event_id:
            calendar = self.calendars[target.calendar_id]
            bot.event_id, bot.event_object_id = target.event_id, target.object_id
            bot.calendar_id, bot.calendar_object_id = calendar.id, calendar.object_id
        if not self.changes.apply(bot, plan.outcome, self.now) and plan.renamed:
            bot.updated_at = max(self.now, bot.updated_at + timedelta(microseconds=1))

    def _create(self, plan: Plan, meeting_id: str) -> Bot:
        assert plan.target is not None and plan.outcome is not None and plan.settings is not None
        target, outcome, settings = plan.target, plan.outcome, plan.settings
        calendar = self.calendars[target.calendar_id]
        bot = Bot(
            object_id=new_id(BOT_ID_PREFIX),
            project_id=self.project_id,
            calendar_id=calendar.id,
            calendar_object_id=calendar.object_id,
            event_id=target.event_id,
            event_object_id=target.object_id,
            rule_object_id=settings.rule_id,
            meeting_object_id=meeting_id,
            state=outcome.state,
            state_reason=None,
            bot_name=settings.bot_name,
            metadata_=settings.metadata,
            deduplication_key=None,
            meeting_url=outcome.meeting_url,
            join_at=outcome.join_at,
            dispatch_at=outcome.dispatch_at,
            join_offset_seconds=settings.join_offset_seconds,
            dispatch_lead_seconds=settings.dispatch_lead_seconds,
            dispatch_due_at=outcome.due_at,
            created_at=self.now,
            updated_at=self.now,
        )
        self.changes.touched = True
        self.changes.due = self.changes.due or target.connected
        self.session.add(bot)
        return bot
