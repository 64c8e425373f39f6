"""The decision and the grouping key as pure functions: every selection field, priority, overrides, reasons."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calsync.meetings import decide
from calsync.meetings import loop as loop_module
from calsync.meetings.decide import Member, Rule
from calsync.meetings.loop import MAX_DEFER, MIN_GAP_SECONDS, MeetingEvaluationLoop
from calsync.sync.meeting_keys import grouping_key, meeting_id, normalized_url

START = datetime(2026, 12, 1, 15, tzinfo=UTC)
GUESTS = (
    {"email": "org@acme.test", "response_status": "accepted", "is_organizer": True},
    {"email": "ada@acme.test", "response_status": "accepted"},
    {"email": "cy@contoso.test", "response_status": "needs_action"},
)
MEMBER = Member(
    event_id="evt_a",
    calendar_id="cal_a",
    start_time=START,
    end_time=START + timedelta(minutes=30),
    name="Design review",
    meeting_url="https://meet.google.com/abc-defg-hij",
    organizer_email="org@acme.test",
    attendees=GUESTS,
    owner_email="ada@acme.test",
    calendar_metadata={"tenant_id": "1"},
)


def code(rule: Rule, member: Member = MEMBER, domains: frozenset[str] = frozenset()) -> str | None:
    return decide.failure(rule, member, domains)


def test_each_selection_field() -> None:
    assert code(Rule("r")) is None
    assert code(Rule("r", calendar_ids=frozenset({"cal_b"}))) == "calendar_out_of_scope"
    assert code(Rule("r", calendar_metadata={"tenant_id": "2"})) == "calendar_out_of_scope"
    assert code(Rule("r", calendar_metadata={"tenant_id": "1"})) is None
    assert code(Rule("r"), replace(MEMBER, meeting_url=None)) == "no_meeting_url"
    assert code(Rule("r"), replace(MEMBER, is_all_day=True)) == "all_day"
    assert code(Rule("r", exclude_all_day=False), replace(MEMBER, is_all_day=True)) is None
    declined = tuple({**g, "response_status": "declined"} if g["email"] == "ada@acme.test" else g for g in GUESTS)
    assert code(Rule("r"), replace(MEMBER, attendees=declined)) == "declined"
    assert code(Rule("r", response="any"), replace(MEMBER, attendees=declined)) is None
    assert code(Rule("r", response="accepted"), replace(MEMBER, owner_email="cy@contoso.test")) == "not_accepted"
    assert code(Rule("r", event_selection="external")) is None  # cy@contoso.test is outside acme.test
    assert code(Rule("r", event_selection="external"), domains=frozenset({"contoso.test"})) == "not_external"
    assert code(Rule("r", event_selection="internal")) == "not_internal"
    assert code(Rule("r", event_selection="internal"), domains=frozenset({"contoso.test"})) is None
    assert code(Rule("r", event_selection="own_events")) == "not_own_event"
    assert code(Rule("r", event_selection="own_events"), replace(MEMBER, owner_email="org@acme.test")) is None
    assert code(Rule("r", event_selection="participant_only")) is None
    assert code(Rule("r", event_selection="participant_only"), replace(MEMBER, owner_email="org@acme.test")) == (
        "not_participant"
    )
    assert code(Rule("r", event_selection="external"), replace(MEMBER, owner_email=None)) == "owner_unknown"
    assert code(Rule("r", participants_gte=4)) == "too_few_participants"
    assert code(Rule("r", participants_lte=2)) == "too_many_participants"
    assert code(Rule("r", participants_gte=3, participants_lte=3)) is None
    assert code(Rule("r", title_include=("REVIEW",))) is None
    assert code(Rule("r", title_include=("standup",))) == "title_not_included"
    assert code(Rule("r", title_exclude=("design",))) == "title_excluded"


def test_priority_and_reasons() -> None:
    low, high = Rule("rul_low"), Rule("rul_high", priority=5, title_include=("review",))
    never = Rule("rul_never", priority=9, title_include=("standup",))
    decision = decide.decide([MEMBER], [low, high, never])
    assert decision.json() == {
        "bot": True,
        "rule_id": "rul_high",
        "override": None,
        "reasons": [
            {"rule_id": "rul_never", "code": "title_not_included"},
            {"rule_id": "rul_low", "code": "lower_priority"},
        ],
    }
    assert decision.eligible == ("evt_a",)


def test_a_rule_matches_when_one_member_does_and_reports_the_furthest_failure() -> None:
    other = replace(MEMBER, event_id="evt_b", calendar_id="cal_b", owner_email="cy@contoso.test")
    rule = Rule("r", response="accepted")
    decision = decide.decide([MEMBER, other], [rule])
    assert decision.bot and decision.eligible == ("evt_a",)
    scoped = Rule("r", calendar_ids=frozenset({"cal_b"}), response="accepted")
    # cal_a is out of scope (first check); cal_b gets further, to its owner's response.
    assert decide.decide([MEMBER, other], [scoped]).reasons == (("r", "not_accepted"),)


def test_overrides() -> None:
    rule = Rule("r")
    assert decide.decide([MEMBER], [rule], meeting_override="never").json() == {
        "bot": False,
        "rule_id": None,
        "override": "never",
        "reasons": [{"rule_id": "r", "code": "overridden"}],
    }
    always = decide.decide([replace(MEMBER, is_all_day=True)], [rule], meeting_override="always")
    assert always.bot and always.override == "always" and always.reasons == (("r", "all_day"),)
    assert not decide.decide([replace(MEMBER, meeting_url=None)], [], meeting_override="always").bot
    series = [replace(MEMBER, series_override="never"), replace(MEMBER, event_id="evt_b", series_override="always")]
    assert decide.effective_override(None, series) == "always"
    assert decide.effective_override("never", series) == "never"
    assert decide.decide(series[:1], [rule]).override == "never"


def test_connected_members_are_preferred_for_the_bot() -> None:
    members = [replace(MEMBER, event_id="evt_a", connected=False), replace(MEMBER, event_id="evt_b")]
    assert decide.decide(members, [Rule("r")]).eligible == ("evt_b", "evt_a")


def test_grouping_key() -> None:
    values = {"start_time": START, "meeting_url": None, "ical_uid": "u@x", "calendar_id": 1, "platform_uuid": "p"}
    by_uid = grouping_key(values)
    assert by_uid == grouping_key({**values, "calendar_id": 2, "platform_uuid": "q"})
    assert by_uid != grouping_key({**values, "start_time": START + timedelta(days=1)})
    linked = {**values, "meeting_url": "https://us02web.zoom.us/j/123?pwd=abc"}
    assert grouping_key(linked) == grouping_key({**linked, "meeting_url": "https://zoom.us/j/123", "ical_uid": "v"})
    assert grouping_key({**values, "ical_uid": None}) != grouping_key({**values, "ical_uid": None, "calendar_id": 2})
    assert normalized_url("https://meet.google.com/ABC-defg-hij/") == "meet.google.com/abc-defg-hij"
    assert normalized_url("https://acme.zoom.us/join?confno=123") == "zoom.us/join?confno=123"


def _normalized_by_urlsplit(url: str) -> str:
    """normalized_url as it was written before its plain-link shortcut: every split by urlsplit."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip().lower()
    host = (parts.hostname or "").lower().removeprefix("www.")
    for family in ("zoom.us", "zoom.com", "webex.com", "zoomgov.com"):
        if host.endswith("." + family):
            host = family
    path = parts.path.rstrip("/")
    if host == "meet.google.com":
        path = path.lower()
    query = parts.query if not path or path.endswith((".php", "/join")) else ""
    return f"{host}{path}" + (f"?{query}" if query else "")


_URL_PIECES = st.sampled_from(
    [
        "https://",
        "http://",
        "zoommtg://",
        "HTTPS://",
        "",
        "www.",
        "Meet.Google.com",
        "us02web.zoom.us",
        "a.webex.com",
        "zoom.us",
        "/",
        "//",
        "j",
        "/join",
        "j.php",
        "?",
        "#",
        "&",
        "=",
        "confno=1",
        "pwd=X",
        "@",
        ":443",
        "[",
        "]",
        " ",
        "\t",
        "\n",
        "é",
        "%41",
        ".",
        "-",
        "ABC-def",
    ]
)


@given(st.lists(_URL_PIECES, max_size=10).map("".join))
def test_normalized_urls_are_those_urlsplit_gives(url: str) -> None:
    normalized_url.cache_clear()
    assert normalized_url(url) == _normalized_by_urlsplit(url)


@given(st.integers(min_value=1, max_value=10**9), st.text(max_size=50))
def test_meeting_ids_are_public_ids(project: int, key: str) -> None:
    mid = meeting_id(project, key)
    assert mid.startswith("mtg_") and len(mid) == 20 and mid[4:].isalnum()
    assert meeting_id(project, key) == mid and meeting_id(project + 1, key) != mid


def test_meeting_ids_never_change() -> None:
    """Stored events carry their meeting's id: the function that makes it must give the same id forever."""
    assert meeting_id(7, "url\x00meet.google.com/abc-defg-hij\x002026-12-01T09:00:00") == "mtg_l7WrDTTX2bzMxQVB"
    assert meeting_id(123456789, "evt\x003\x00p") == "mtg_NGBzVFx0m83MMq1D"


@given(st.datetimes(timezones=st.just(UTC)))
def test_the_start_in_the_key_is_written_as_strftime_wrote_it(start: datetime) -> None:
    key = grouping_key({"start_time": start, "meeting_url": None, "ical_uid": "u", "calendar_id": 1})
    assert key == f"uid\x00u\x00{start.strftime('%Y-%m-%dT%H:%M:%S')}"


async def test_evaluation_defers_to_running_syncs_for_a_bounded_time() -> None:
    now = [START]
    ran: list[str] = []

    class Db:
        async def write_retrying(self, body: Any, what: str) -> Any:
            ran.append(what)
            return SimpleNamespace(meetings=0, wake=False, last_id=0)

    context = SimpleNamespace(
        clock=lambda: now[0],
        db=Db(),
        settings=SimpleNamespace(bot_stand_down_seconds=300, bot_dispatch_lead_seconds=120),
    )
    syncing = SimpleNamespace(busy=True)
    loop = MeetingEvaluationLoop(cast(Any, context), defer_to=syncing)
    assert await loop.run_once() == 0 and ran == [], "a sync is running: wait"
    now[0] += MAX_DEFER - timedelta(seconds=1)
    assert await loop.run_once() == 0 and ran == []
    now[0] += timedelta(seconds=1)
    await loop.run_once()
    # Deferred long enough: a batch runs although syncs go on (queued meetings, then those of event changes).
    assert ran == ["evaluate_meetings", "scan_meetings"]
    syncing.busy = False
    assert loop.caught_up_at is not None
    loop.caught_up_at -= MIN_GAP_SECONDS  # (the gap after catching up is another test's)
    await loop.run_once()
    assert len(ran) == 4


async def test_once_caught_up_evaluation_looks_again_after_a_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    """A steady stream of changes wakes the loop for each: within the gap after a look that found nothing, wake-ups
    only mark that there is something to look for, and the look comes when the gap ends."""
    clock = [1000.0]
    monkeypatch.setattr(loop_module.time, "monotonic", lambda: clock[0])
    found = [0]
    ran: list[str] = []

    class Db:
        async def write_retrying(self, body: Any, what: str) -> Any:
            ran.append(what)
            return SimpleNamespace(meetings=found[0], wake=False, last_id=0)

    context = SimpleNamespace(
        clock=lambda: START,
        db=Db(),
        settings=SimpleNamespace(bot_stand_down_seconds=300, bot_dispatch_lead_seconds=120),
    )
    loop = MeetingEvaluationLoop(cast(Any, context))
    assert await loop.run_once() == 0 and len(ran) == 2, "nothing found: caught up"
    assert await loop.seconds_until_due() is None, "not woken since: the runner waits for a kick or the poll"
    clock[0] += MIN_GAP_SECONDS / 2
    assert await loop.run_once() == 0 and len(ran) == 2, "woken within the gap: no look"
    assert await loop.seconds_until_due() == pytest.approx(MIN_GAP_SECONDS / 2)
    clock[0] += MIN_GAP_SECONDS / 2
    found[0] = 3
    assert await loop.run_once() == 6 and len(ran) == 4, "the gap is over: the look"
    assert await loop.run_once() == 6 and len(ran) == 6, "found work: no gap"
