"""Stored meetings and rules in words: a decision ("bot: yes, rule Record"), every reason code explained, a rule's
scope and selection in one line, its re-evaluation progress, and the meetings list's filters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.datastructures import QueryParams

from calsync.dashboard.bots import views as bot_views
from calsync.meetings import decide
from calsync.providers.meeting_url_patterns import PLATFORMS
from calsync.store.models import BotRule, Meeting

MAX_ID_CHARS = 32

# Every code a decision can carry (calsync.meetings.decide), as an operator would say it. A code missing here is
# shown as is (tests/dashboard/test_meetings.py checks that none is).
REASON_TEXT: dict[str, str] = {
    decide.CALENDAR_OUT_OF_SCOPE: "None of the meeting's calendars is in the rule's scope (its calendar ids or "
    "calendar metadata).",
    decide.NO_MEETING_URL: "No member event has a meeting link, so there is nothing for a bot to join.",
    decide.ALL_DAY: "It is an all-day event, and the rule leaves all-day events out.",
    decide.DECLINED: "The calendar's owner declined it.",
    decide.NOT_ACCEPTED: "The calendar's owner has not accepted it, and the rule wants accepted meetings only.",
    decide.OWNER_UNKNOWN: "The calendar's owner is not known (no owner email), so the rule cannot tell whose "
    "meeting it is.",
    decide.NOT_OWN_EVENT: "The calendar's owner does not organize it, and the rule wants the owner's own events.",
    decide.NOT_PARTICIPANT: "The calendar's owner organizes it (or is not listed), and the rule wants meetings "
    "the owner is only invited to.",
    decide.NOT_EXTERNAL: "Every participant is from an internal domain, and the rule wants meetings with someone "
    "from outside.",
    decide.NOT_INTERNAL: "Someone from outside takes part, and the rule wants internal meetings only.",
    decide.TOO_FEW_PARTICIPANTS: "Fewer participants than the rule's minimum.",
    decide.TOO_MANY_PARTICIPANTS: "More participants than the rule's maximum.",
    decide.TITLE_NOT_INCLUDED: "The title contains none of the rule's keywords.",
    decide.TITLE_EXCLUDED: "The title contains one of the keywords the rule excludes.",
    decide.LOWER_PRIORITY: "The rule selects it, but a rule of higher priority (or, at equal priority, a smaller "
    "rule id) won.",
    decide.OVERRIDDEN: "The rule selects it, but the meeting's override decides instead.",
}

OVERRIDE_TEXT = {
    decide.ALWAYS: "always a bot, whatever the rules say",
    decide.NEVER: "never a bot, whatever the rules say",
}

SELECTION_TEXT = {
    "all": "every meeting",
    "external": "meetings with someone from outside",
    "internal": "internal meetings only",
    "own_events": "meetings the calendar's owner organizes",
    "participant_only": "meetings the calendar's owner is invited to",
}
RESPONSE_TEXT = {"any": "whatever the owner answered", "not_declined": "not declined", "accepted": "accepted only"}


def reason_text(code: str) -> str:
    return REASON_TEXT.get(code, code)


@dataclass(frozen=True)
class Reason:
    rule_id: str | None
    rule: BotRule | None  # None when the rule was deleted since (or the reason is the override's)
    code: str
    text: str


@dataclass(frozen=True)
class Decision:
    """A meeting's `decision` (calsync.meetings.decide.Decision.json) with its rules looked up."""

    bot: bool
    rule_id: str | None
    rule: BotRule | None
    override: str | None
    summary: str
    reasons: list[Reason]


def decision(meeting: Meeting, rules: Mapping[str, BotRule]) -> Decision:
    stored: dict[str, Any] = meeting.decision if isinstance(meeting.decision, dict) else {}
    bot = bool(stored.get("bot"))
    rule_id = stored.get("rule_id")
    override = stored.get("override")
    reasons = [
        Reason(item.get("rule_id"), rules.get(item.get("rule_id") or ""), code, reason_text(code))
        for item in stored.get("reasons") or []
        if isinstance(item, dict) and isinstance(code := item.get("code"), str)
    ]
    rule = rules.get(rule_id) if isinstance(rule_id, str) else None
    return Decision(bot, rule_id, rule, override, _summary(bot, rule_id, rule, override, reasons), reasons)


def _summary(bot: bool, rule_id: str | None, rule: BotRule | None, override: str | None, reasons: list[Reason]) -> str:
    if override is not None:
        if bot:
            return f"Bot: yes, by the override “{override}”."
        if override == decide.ALWAYS:
            return "Bot: no. The override is “always”, but no member event has a meeting link."
        return f"Bot: no, by the override “{override}”."
    if bot:
        return f"Bot: yes, by the rule “{rule.name if rule else rule_id}”."
    if not reasons:
        return "Bot: no. The project has no active rule."
    return "Bot: no. No rule selects it."


def member_count(meeting: Meeting) -> int:
    return len(meeting.events) if isinstance(meeting.events, list) else 0


def scope_text(rule: BotRule) -> str:
    parts = []
    if rule.calendar_ids is not None:
        count = len(rule.calendar_ids)
        parts.append(f"{count} calendar{'' if count == 1 else 's'}: " + ", ".join(rule.calendar_ids))
    if rule.calendar_metadata:
        parts.append(
            "calendars with " + ", ".join(f"{key} = {value}" for key, value in sorted(rule.calendar_metadata.items()))
        )
    return " and ".join(parts) if parts else "all calendars"


def selection_text(rule: BotRule) -> str:
    parts = [SELECTION_TEXT.get(rule.event_selection, rule.event_selection)]
    parts.append(RESPONSE_TEXT.get(rule.response, rule.response))
    if rule.participants_gte is not None and rule.participants_lte is not None:
        parts.append(f"{rule.participants_gte} to {rule.participants_lte} participants")
    elif rule.participants_gte is not None:
        parts.append(f"at least {rule.participants_gte} participants")
    elif rule.participants_lte is not None:
        parts.append(f"at most {rule.participants_lte} participants")
    if rule.exclude_all_day:
        parts.append("no all-day events")
    if rule.title_include:
        parts.append("title has " + " or ".join(f"“{word}”" for word in rule.title_include))
    if rule.title_exclude:
        parts.append("title has none of " + ", ".join(f"“{word}”" for word in rule.title_exclude))
    return "; ".join(parts)


@dataclass(frozen=True)
class Progress:
    """A rule's last re-evaluation (the API's `evaluation`): the meetings queued by its change, and those left."""

    total: int
    left: int
    started_at: datetime | None

    @property
    def running(self) -> bool:
        return self.left > 0

    @property
    def done(self) -> int:
        return max(0, self.total - self.left)

    @property
    def text(self) -> str:
        if self.running:
            return f"re-evaluating: {self.done} of {self.total} meetings done"
        return f"done ({self.total} meeting{'' if self.total == 1 else 's'} re-evaluated)"


# What the meetings templates call (passed with every render of them).
HELPERS: dict[str, Any] = {
    "member_count": member_count,
    "scope_text": scope_text,
    "selection_text": selection_text,
    "override_text": OVERRIDE_TEXT,
    "state_kind": bot_views.state_kind,  # a bot's badge colour, as on the bots pages
}


# --- the list's filters ------------------------------------------------------------------------------------------

WHEN = {"all": "the whole synced window", "upcoming": "starting from this hour on"}
DEFAULT_WHEN = "all"  # as the API: the list has no default window
HAS_BOT = {"yes": True, "no": False}
PLATFORM_CHOICES = tuple(sorted(PLATFORMS))


@dataclass(frozen=True)
class MeetingListFilters:
    """The list's query parameters, checked: anything unknown is ignored rather than an error page."""

    calendar_id: str | None
    has_bot: str | None  # "yes" | "no"
    platform: str | None
    when: str

    def start_from(self, now: datetime) -> datetime | None:
        return now.replace(minute=0, second=0, microsecond=0) if self.when == "upcoming" else None


def list_filters(params: QueryParams) -> MeetingListFilters:
    calendar_id = (params.get("calendar_id") or "").strip() or None
    has_bot = params.get("has_bot") or None
    platform = params.get("platform") or None
    when = params.get("when") or DEFAULT_WHEN
    return MeetingListFilters(
        calendar_id=calendar_id if calendar_id and len(calendar_id) <= MAX_ID_CHARS else None,
        has_bot=has_bot if has_bot in HAS_BOT else None,
        platform=platform if platform in PLATFORMS else None,
        when=when if when in WHEN else DEFAULT_WHEN,
    )
