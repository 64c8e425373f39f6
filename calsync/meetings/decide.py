"""Whether a meeting gets a bot, from which rule, and why not — pure functions of the meeting's member events, the
project's active rules and the overrides (no database, no clock), so that they are unit- and property-tested.

A rule matches a meeting when it matches at least one member event; the member event is judged from its calendar's
point of view (its owner's response, whether its owner organizes, its owner's domain). Of the matching rules the
highest priority wins (ties: the smaller rule id). An override (`always`/`never`, on the meeting or on a member's recurring
series) wins over every rule. Every rule that did not win says why, with one machine-readable code."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from calsync.emails import domain_of

ALWAYS, NEVER = "always", "never"

# Codes of a rule that does not select a member event, in the order the checks run. A rule that fails on every
# member reports the code of the member that got furthest (the most telling reason).
CALENDAR_OUT_OF_SCOPE = "calendar_out_of_scope"
NO_MEETING_URL = "no_meeting_url"
ALL_DAY = "all_day"
DECLINED = "declined"
NOT_ACCEPTED = "not_accepted"
OWNER_UNKNOWN = "owner_unknown"
NOT_OWN_EVENT = "not_own_event"
NOT_PARTICIPANT = "not_participant"
NOT_EXTERNAL = "not_external"
NOT_INTERNAL = "not_internal"
TOO_FEW_PARTICIPANTS = "too_few_participants"
TOO_MANY_PARTICIPANTS = "too_many_participants"
TITLE_NOT_INCLUDED = "title_not_included"
TITLE_EXCLUDED = "title_excluded"
CHECK_ORDER = (
    CALENDAR_OUT_OF_SCOPE,
    NO_MEETING_URL,
    ALL_DAY,
    DECLINED,
    NOT_ACCEPTED,
    OWNER_UNKNOWN,
    NOT_OWN_EVENT,
    NOT_PARTICIPANT,
    NOT_EXTERNAL,
    NOT_INTERNAL,
    TOO_FEW_PARTICIPANTS,
    TOO_MANY_PARTICIPANTS,
    TITLE_NOT_INCLUDED,
    TITLE_EXCLUDED,
)
# A rule that matched but lost to a rule of higher priority (or an override).
LOWER_PRIORITY = "lower_priority"
OVERRIDDEN = "overridden"

EVENT_SELECTIONS = ("all", "external", "internal", "own_events", "participant_only")
RESPONSES = ("any", "not_declined", "accepted")


@dataclass(frozen=True)
class Member:
    """One live member event, with what its calendar contributes."""

    event_id: str
    calendar_id: str
    start_time: datetime
    end_time: datetime
    name: str | None = None
    meeting_url: str | None = None
    meeting_platform: str | None = None
    ical_uid: str | None = None
    is_all_day: bool = False
    organizer_email: str | None = None
    attendees: tuple[dict[str, Any], ...] = ()
    owner_email: str | None = None
    calendar_metadata: dict[str, Any] | None = None
    connected: bool = True
    series_override: str | None = None  # the override of its recurring series on its calendar


@dataclass(frozen=True)
class Rule:
    id: str
    priority: int = 0
    calendar_ids: frozenset[str] | None = None
    calendar_metadata: dict[str, Any] | None = None
    event_selection: str = "all"
    participants_gte: int | None = None
    participants_lte: int | None = None
    response: str = "not_declined"
    exclude_all_day: bool = True
    title_include: tuple[str, ...] = ()
    title_exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    bot: bool
    rule_id: str | None
    override: str | None
    reasons: tuple[tuple[str | None, str], ...] = ()
    # The members a bot may serve the meeting from, best first (connected calendars first, then oldest event id).
    eligible: tuple[str, ...] = field(default=())

    def json(self) -> dict[str, Any]:
        return {
            "bot": self.bot,
            "rule_id": self.rule_id,
            "override": self.override,
            "reasons": [{"rule_id": rule_id, "code": code} for rule_id, code in self.reasons],
        }


def response_status(member: Member) -> str | None:
    """The calendar owner's response: `accepted` when the owner organizes, else the owner's attendee entry's
    (`accepted`, `declined`, `tentative`, `needs_action`), None when the owner is not known or not listed."""
    owner = (member.owner_email or "").lower()
    for attendee in member.attendees:
        email = (attendee.get("email") or "").lower()
        if attendee.get("is_self") or (owner and email == owner):
            if attendee.get("is_organizer"):
                return "accepted"
            status = attendee.get("response_status")
            return str(status) if status else None
    if owner and (member.organizer_email or "").lower() == owner:
        return "accepted"
    return None


def _organizes(member: Member) -> bool:
    owner = (member.owner_email or "").lower()
    if owner and (member.organizer_email or "").lower() == owner:
        return True
    return any(a.get("is_self") and a.get("is_organizer") for a in member.attendees)


def participants(member: Member) -> set[str]:
    """Distinct addresses of the attendees and the organizer (at least the owner: a meeting has one participant)."""
    emails = {(a.get("email") or "").lower() for a in member.attendees if a.get("email")}
    if member.organizer_email:
        emails.add(member.organizer_email.lower())
    if not emails and member.owner_email:
        emails.add(member.owner_email.lower())
    return emails


def _in_scope(rule: Rule, member: Member) -> bool:
    if rule.calendar_ids is not None and member.calendar_id not in rule.calendar_ids:
        return False
    if rule.calendar_metadata:
        metadata = member.calendar_metadata or {}
        return all(metadata.get(key) == value for key, value in rule.calendar_metadata.items())
    return True


def _contains(title: str, keywords: Iterable[str]) -> bool:
    lowered = title.casefold()
    return any(keyword.casefold() in lowered for keyword in keywords if keyword)


def failure(rule: Rule, member: Member, internal_domains: frozenset[str]) -> str | None:
    """The first check of `rule` that `member` fails (a code of CHECK_ORDER), or None when it matches."""
    if not _in_scope(rule, member):
        return CALENDAR_OUT_OF_SCOPE
    if not member.meeting_url:
        return NO_MEETING_URL
    if rule.exclude_all_day and member.is_all_day:
        return ALL_DAY
    status = response_status(member)
    if rule.response == "not_declined" and status == "declined":
        return DECLINED
    if rule.response == "accepted" and status != "accepted":
        return DECLINED if status == "declined" else NOT_ACCEPTED
    selection = rule.event_selection
    if selection != "all" and not member.owner_email:
        return OWNER_UNKNOWN
    if selection == "own_events" and not _organizes(member):
        return NOT_OWN_EVENT
    if selection == "participant_only" and (_organizes(member) or status is None):
        return NOT_PARTICIPANT
    if selection in ("external", "internal"):
        internal = internal_domains | {domain_of(member.owner_email) or ""}
        external = any(domain_of(email) not in internal for email in participants(member))
        if selection == "external" and not external:
            return NOT_EXTERNAL
        if selection == "internal" and external:
            return NOT_INTERNAL
    count = len(participants(member))
    if rule.participants_gte is not None and count < rule.participants_gte:
        return TOO_FEW_PARTICIPANTS
    if rule.participants_lte is not None and count > rule.participants_lte:
        return TOO_MANY_PARTICIPANTS
    title = member.name or ""
    if rule.title_include and not _contains(title, rule.title_include):
        return TITLE_NOT_INCLUDED
    if rule.title_exclude and _contains(title, rule.title_exclude):
        return TITLE_EXCLUDED
    return None


def ranked(rules: Iterable[Rule]) -> list[Rule]:
    """Highest priority first; equal priorities in id order (stable, whatever order they were read in)."""
    return sorted(rules, key=lambda rule: (-rule.priority, rule.id))


def _preference(members: Sequence[Member]) -> list[Member]:
    return sorted(members, key=lambda member: (not member.connected, member.event_id))


def effective_override(meeting_override: str | None, members: Sequence[Member]) -> str | None:
    """The meeting's own override, else its members' series overrides (`always` wins over `never`: one invitee
    who wants the recording is enough)."""
    if meeting_override is not None:
        return meeting_override
    series = {member.series_override for member in members} - {None}
    if ALWAYS in series:
        return ALWAYS
    return NEVER if NEVER in series else None


def decide(
    members: Sequence[Member],
    rules: Iterable[Rule],
    *,
    meeting_override: str | None = None,
    internal_domains: frozenset[str] = frozenset(),
) -> Decision:
    override = effective_override(meeting_override, members)
    reasons: list[tuple[str | None, str]] = []
    winner: Rule | None = None
    eligible: list[Member] = []
    for rule in ranked(rules):
        matching = [member for member in members if failure(rule, member, internal_domains) is None]
        if matching and winner is None and override is None:
            winner, eligible = rule, matching
            continue
        if matching:
            reasons.append((rule.id, OVERRIDDEN if override is not None else LOWER_PRIORITY))
            continue
        codes = [failure(rule, member, internal_domains) for member in members]
        furthest = max((CHECK_ORDER.index(code) for code in codes if code is not None), default=None)
        reasons.append((rule.id, CHECK_ORDER[furthest] if furthest is not None else NO_MEETING_URL))
    if override == NEVER:
        return Decision(False, None, NEVER, tuple(reasons))
    if override == ALWAYS:
        joinable = [member for member in members if member.meeting_url]
        if not joinable:
            return Decision(False, None, ALWAYS, ((None, NO_MEETING_URL), *reasons))
        return Decision(True, None, ALWAYS, tuple(reasons), tuple(m.event_id for m in _preference(joinable)))
    if winner is None:
        return Decision(False, None, None, tuple(reasons))
    return Decision(True, winner.id, None, tuple(reasons), tuple(m.event_id for m in _preference(eligible)))
