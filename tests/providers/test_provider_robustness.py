"""Property tests: no platform reply, however odd, crashes classification or normalization."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from calsync.clock import FrozenClock
from calsync.providers import google_errors, microsoft_errors
from calsync.providers.base import ErrorKind, ProviderError
from calsync.providers.google_normalize import normalize_event as normalize_google
from calsync.providers.microsoft_normalize import normalize_event as normalize_graph
from calsync.providers.normalize import MAX_RAW_BYTES

CLOCK = FrozenClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))

KEYS = st.sampled_from(
    [
        "error", "error_subtype", "error_codes", "suberror", "errors", "reason", "code", "details", "status", "innerError",
        "message", "location", "id", "start", "end", "date", "dateTime", "timeZone", "isAllDay", "attendees", "organizer",
        "status", "summary", "subject", "body", "content", "location", "locations", "displayName", "conferenceData",
        "entryPoints", "entryPointType", "uri", "onlineMeeting", "joinUrl", "emailAddress", "address", "response",
        "originalStartTime", "originalStartTimeZone", "isCancelled", "@removed",
    ]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.sampled_from(
        ["invalid_grant", "rateLimitExceeded", "2026-03-01", "2026-03-01T09:00:00.1234567", "UTC", "video"]
    ),
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS | st.text(max_size=8), children, max_size=6),
    max_leaves=30,
)
STATUSES = st.sampled_from([400, 401, 403, 404, 408, 409, 410, 412, 429, 500, 502, 503, 504])
CLASSIFIERS = [
    google_errors.classify_oauth_error,
    google_errors.LIST_CLASSIFIER,
    google_errors.ITEM_CLASSIFIER,
    microsoft_errors.classify_oauth_error,
    microsoft_errors.LIST_CLASSIFIER,
    microsoft_errors.ITEM_CLASSIFIER,
]


@settings(max_examples=300, deadline=None)
@given(status=STATUSES, body=JSON, retry_after=st.one_of(st.none(), st.text(max_size=30)))
def test_classification_never_crashes(status: int, body: Any, retry_after: str | None) -> None:
    headers = (
        {"Retry-After": retry_after}
        if retry_after is not None and retry_after.isprintable() and retry_after.isascii()
        else {}
    )
    response = httpx.Response(status, content=json.dumps(body).encode(), headers=headers)
    for classify in CLASSIFIERS:
        error = classify(response, CLOCK)
        assert isinstance(error, ProviderError) and isinstance(error.kind, ErrorKind)
        assert error.retry_after is None or error.retry_after >= 0


@settings(max_examples=100, deadline=None)
@given(status=STATUSES, content=st.binary(max_size=200))
def test_classification_of_arbitrary_bytes(status: int, content: bytes) -> None:
    for classify in CLASSIFIERS:
        assert isinstance(classify(httpx.Response(status, content=content), CLOCK).kind, ErrorKind)


@settings(max_examples=300, deadline=None)
@given(item=st.dictionaries(KEYS, JSON, max_size=10), event_id=st.one_of(st.none(), st.text(min_size=1, max_size=20)))
def test_normalization_never_crashes(item: dict[str, Any], event_id: str | None) -> None:
    if event_id is not None:
        item["id"] = event_id
    for event in (normalize_google(item, calendar_time_zone="Europe/Zurich"), normalize_graph(item)):
        if event is None:
            assert not isinstance(item.get("id"), str) or not item["id"]
            continue
        for instant in (event.start_time, event.end_time):
            assert instant is None or instant.utcoffset() is not None
        assert (
            len(json.dumps(event.raw, ensure_ascii=False, separators=(",", ":"), default=str).encode()) <= MAX_RAW_BYTES
        )


def test_dates_at_the_edge_of_the_calendar_do_not_overflow() -> None:
    early = normalize_google(
        {
            "id": "x",
            "start": {"dateTime": "0001-01-01T00:30:00+01:00"},
            "end": {"dateTime": "9999-12-31T23:30:00-01:00"},
        }
    )
    assert early is not None and early.start_time is None and early.end_time is None
    graph = normalize_graph(
        {
            "id": "x",
            "isAllDay": True,
            "start": {"dateTime": "9999-12-31T23:00:00", "timeZone": "UTC"},
            "originalStartTimeZone": "Asia/Tokyo",
        }
    )
    assert graph is not None and graph.start_time is None
