"""The dashboard's pure parts: session tokens, CSRF tags, the timeline's layout, the sync chart, meeting sources."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from calsync.dashboard import session as sessions
from calsync.dashboard.charts import TIMELINE_WIDTH, sync_chart, timeline
from calsync.dashboard.pages.events import meeting_source
from calsync.dashboard.queries import HourBucket
from calsync.dashboard.web import safe_next
from calsync.security.secret_box import SecretBox, generate_key

NOW = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)


def test_session_round_trip_and_rotation() -> None:
    old, new = generate_key(), generate_key()
    signer = sessions.Signer(SecretBox([old]).derived_keys(sessions.KEY_PURPOSE))
    claims = sessions.new_session(api_key_id=3, project_id=7, now=NOW)
    token = sessions.encode_session(signer, claims)
    assert sessions.decode_session(signer, token, NOW) == claims
    assert sessions.decode_session(signer, token, NOW + sessions.SESSION_LIFETIME) is None  # expired

    # A new key first: old sessions still verify, new ones are signed with the new key.
    rotated = sessions.Signer(SecretBox([new, old]).derived_keys(sessions.KEY_PURPOSE))
    assert sessions.decode_session(rotated, token, NOW) == claims
    csrf = signer.tag("csrf", claims.nonce)
    assert sessions.csrf_ok(rotated, claims, csrf)
    # The old key dropped: the sessions it signed end.
    only_new = sessions.Signer(SecretBox([new]).derived_keys(sessions.KEY_PURPOSE))
    assert sessions.decode_session(only_new, token, NOW) is None


def test_tampered_tokens_are_refused() -> None:
    signer = sessions.Signer(SecretBox([generate_key()]).derived_keys(sessions.KEY_PURPOSE))
    claims = sessions.new_session(api_key_id=1, project_id=1, now=NOW)
    token = sessions.encode_session(signer, claims)
    version, body, signature = token.split(".")
    forged_body = sessions._b64(b'{"p":2,"k":1,"n":"x","e":9999999999}')
    for bad in (
        f"{version}.{forged_body}.{signature}",
        f"{version}.{body}.{signature[:-2]}",
        f"v2.{body}.{signature}",
        f"{version}.{body}",
        "",
        "garbage",
        f"{version}.{body}.!!!",
    ):
        assert sessions.decode_session(signer, bad, NOW) is None, bad
    other = sessions.Signer(SecretBox([generate_key()]).derived_keys(sessions.KEY_PURPOSE))
    assert sessions.decode_session(other, token, NOW) is None
    assert not sessions.csrf_ok(signer, claims, None)
    assert not sessions.csrf_ok(signer, claims, "")
    assert not sessions.csrf_ok(signer, claims, signer.tag("login", claims.nonce))  # another purpose
    assert sessions.login_token_ok(signer, "n1", sessions.login_token(signer, "n1"))
    assert not sessions.login_token_ok(signer, "n2", sessions.login_token(signer, "n1"))
    assert not sessions.login_token_ok(signer, None, sessions.login_token(signer, "n1"))


def test_derived_keys_are_per_purpose_and_not_the_key() -> None:
    box = SecretBox([generate_key()])
    [a] = box.derived_keys("dashboard-session")
    [b] = box.derived_keys("something-else")
    assert a != b and len(a) == 32


def test_safe_next_stays_inside_the_dashboard() -> None:
    assert safe_next("/dashboard", "/dashboard/calendars?state=connected") == "/dashboard/calendars?state=connected"
    for bad in ("https://evil.example/", "//evil.example/dashboard/", "/api/v1/calendars", "/dashboard\\x", None, ""):
        assert safe_next("/dashboard", bad) == "/dashboard/"


@dataclass
class Row:
    id: int
    object_id: str
    name: str | None
    start_time: datetime
    end_time: datetime
    meeting_url: str | None = None
    meeting_platform: str | None = None


def _row(index: int, start: datetime, minutes: int = 60, name: str = "Meeting") -> Row:
    return Row(index, f"evt_{index}", name, start, start + timedelta(minutes=minutes))


def test_timeline_lanes_never_overlap() -> None:
    start = NOW.replace(minute=0)
    rows = [_row(i, start + timedelta(hours=i // 3, minutes=10 * (i % 3))) for i in range(30)]
    rows.append(_row(99, start + timedelta(days=6, hours=23), name="At the very end of the week"))
    rows.append(_row(100, start - timedelta(hours=2), minutes=180, name="Running now"))
    layout = timeline(rows, {}, start, 7, NOW)
    assert len(layout.bars) == len(rows)
    assert [d.label for d in layout.days][:2] == ["Wed 25 Nov", "Thu 26 Nov"]
    assert 0 < layout.now_x < 10
    by_lane: dict[int, list[tuple[float, float]]] = {}
    for bar in layout.bars:
        assert 0 <= bar.x <= TIMELINE_WIDTH
        label_px = len(bar.label) * 6.5
        if bar.label_inside:
            extent = (bar.x, bar.x + bar.width)
        elif bar.label_anchor == "start":
            extent = (bar.x, bar.label_x + label_px)
            assert bar.label_x + label_px <= TIMELINE_WIDTH
        else:
            extent = (bar.label_x - label_px, bar.x + bar.width)
        by_lane.setdefault(bar.lane, []).append(extent)
    for extents in by_lane.values():
        extents.sort()
        for (_, right), (left, _) in itertools.pairwise(extents):
            assert right <= left
    end_bar = next(b for b in layout.bars if b.object_id == "evt_99")
    assert end_bar.label_anchor == "end"  # no room on its right
    running = next(b for b in layout.bars if b.object_id == "evt_100")
    assert running.x == 0  # began before the window: clamped


def test_timeline_shortens_long_names() -> None:
    layout = timeline([_row(1, NOW, name="A" * 80)], {}, NOW, 7, NOW)
    assert layout.bars[0].label.endswith("…") and len(layout.bars[0].label) == 24


def test_sync_chart_scale_and_stacking() -> None:
    base = NOW.replace(minute=0) - timedelta(hours=23)
    buckets = [HourBucket(base + timedelta(hours=i), succeeded=i, failed=1 if i == 5 else 0) for i in range(24)]
    chart = sync_chart(buckets)
    assert chart.scale_max == 50  # 23 rounded up to 1, 2 or 5 times a power of ten
    assert chart.succeeded == sum(range(24)) and chart.failed == 1
    bar = chart.bars[5]
    assert bar.failed_y + bar.failed_height == pytest.approx(bar.ok_y)  # failed stacked on succeeded
    assert bar.ok_y + bar.ok_height == pytest.approx(chart.baseline)
    assert [b.label for b in chart.bars if b.label][:2] == [f"{base:%H}:00", f"{base + timedelta(hours=3):%H}:00"]
    empty = sync_chart([HourBucket(base, 0, 0)])
    assert empty.scale_max == 1 and empty.bars[0].ok_height == 0


def test_meeting_source_names_the_field() -> None:
    url = "https://meet.google.com/abc-defg-hij"
    google = {"summary": "x", "description": f"Join at {url}", "location": "Room 1"}
    assert meeting_source("google", google, url) == "description"
    conference = {"conferenceData": {"entryPoints": [{"entryPointType": "video", "uri": url}]}, "description": url}
    assert meeting_source("google", conference, url) == "conferenceData.entryPoints[video].uri"
    teams = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40thread.v2/0"
    graph = {"onlineMeeting": {"joinUrl": teams}, "body": {"content": "no link"}}
    assert meeting_source("microsoft", graph, teams) == "onlineMeeting.joinUrl"
    located = {"locations": [{"displayName": "Room"}, {"displayName": f"Zoom {url}"}]}
    assert meeting_source("microsoft", located, url) == "locations[1].displayName"
    assert meeting_source("google", {"description": "shortened"}, url) is None
    assert meeting_source("google", None, url) is None
    assert meeting_source("google", google, None) is None


def test_timeline_ticks_every_few_hours() -> None:
    start = NOW.replace(minute=0)
    result = timeline([], {}, start, 1, NOW, tick_hours=3)
    assert [tick.label for tick in result.days] == [
        "12:00",
        "15:00",
        "18:00",
        "21:00",
        "Wed 25 Nov",
        "03:00",
        "06:00",
        "09:00",
    ]


def test_the_limiter_counts_only_what_is_recorded_and_forgets_keys() -> None:
    from calsync.clock import FrozenClock
    from calsync.web.ratelimit import SlidingWindowLimiter

    clock = FrozenClock(NOW)
    limiter = SlidingWindowLimiter(2, clock, max_keys=3)
    assert limiter.wait("a") is None and limiter.wait("a") is None  # looking records nothing
    limiter.record("a")
    clock.advance(seconds=10)
    limiter.record("a")
    assert limiter.wait("a") == 50.0
    clock.advance(seconds=50)
    assert limiter.wait("a") is None  # the first hit left the window
    # Past max_keys, keys whose hits all left the window go first, then the oldest.
    clock.advance(seconds=60)
    for key in ("b", "c", "d", "e"):
        limiter.record(key)
    assert len(limiter._hits) == 3 and "a" not in limiter._hits and "b" not in limiter._hits
