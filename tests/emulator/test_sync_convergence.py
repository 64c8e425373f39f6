"""Property: a mirror kept by one full sync plus incremental syncs always equals a fresh full sync.

Random changes (creates, moves into and out of the window, renames, deletions, series edits, modified
and cancelled instances) between rounds; Google (singleEvents, syncToken) and Graph (calendarView delta).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calsync_emulator.client import EmulatorError, SyncEmulatorControl

BASE = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW = (BASE + timedelta(days=2), BASE + timedelta(days=10))

ops = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.integers(0, 13), st.integers(6, 20)),
        st.tuples(st.just("series"), st.integers(0, 13), st.integers(2, 6)),
        st.tuples(st.just("move"), st.integers(0, 20), st.integers(0, 13)),
        st.tuples(st.just("rename"), st.integers(0, 20), st.integers(0, 99)),
        st.tuples(st.just("delete"), st.integers(0, 20), st.just(0)),
        st.tuples(st.just("cancel_instance"), st.integers(0, 20), st.integers(0, 5)),
        st.tuples(st.just("modify_instance"), st.integers(0, 20), st.integers(0, 5)),
        st.tuples(st.just("shorten"), st.integers(0, 20), st.integers(1, 3)),
    ),
    min_size=1,
    max_size=8,
)


def _apply(control: SyncEmulatorControl, cal: str, created: list[tuple[str, datetime, bool]], op: tuple) -> None:
    kind, a, b = op
    pick = created[a % len(created)] if created else None
    try:
        if kind == "create":
            start = BASE + timedelta(days=a, hours=b)
            created.append((control.create_event(cal, start, start + timedelta(hours=1))["id"], start, False))
        elif kind == "series":
            start = BASE + timedelta(days=a, hours=9)
            event = control.create_event(
                cal, start, start + timedelta(hours=1), recurrence=[f"RRULE:FREQ=DAILY;COUNT={b}"]
            )
            created.append((event["id"], start, True))
        elif pick is None:
            return
        elif kind == "move":
            start = BASE + timedelta(days=b, hours=12)
            control.update_event(cal, pick[0], start=start, end=start + timedelta(minutes=30))
        elif kind == "rename":
            control.update_event(cal, pick[0], summary=f"renamed {b}")
        elif kind == "delete":
            control.delete_event(cal, pick[0])
        elif kind in ("cancel_instance", "modify_instance") and pick[2]:
            instance = f"{pick[0]}_{(pick[1] + timedelta(days=b)).strftime('%Y%m%dT%H%M%SZ')}"
            if kind == "cancel_instance":
                control.cancel_event(cal, instance)
            else:
                control.update_event(cal, instance, summary="exception")
        elif kind == "shorten" and pick[2]:
            control.update_event(cal, pick[0], recurrence=[f"RRULE:FREQ=DAILY;COUNT={b}"])
    except EmulatorError as exc:
        assert exc.status in (400, 404), exc.detail  # e.g. a deleted event, an instance the series lacks


def _start(item: dict[str, Any]) -> datetime:
    value = item["start"].get("dateTime") or item["start"]["date"]
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _in_window(item: dict[str, Any]) -> bool:
    end_value = item["end"].get("dateTime") or item["end"]["date"]
    end = datetime.fromisoformat(end_value.replace("Z", "+00:00"))
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    return end > WINDOW[0] and _start(item) < WINDOW[1]


def _google_round(http: httpx.Client, url: str, headers: dict[str, str], params: dict[str, str]):
    items, params = [], dict(params)
    for _ in range(100):
        page = http.get(url, params=params, headers=headers).json()
        items.extend(page["items"])
        if "nextPageToken" not in page:
            return items, page["nextSyncToken"]
        params["pageToken"] = page["nextPageToken"]
    raise AssertionError("too many pages")


def _graph_round(http: httpx.Client, url: str, headers: dict[str, str], params: dict[str, str] | None):
    items: list[dict[str, Any]] = []
    for _ in range(100):
        body = http.get(url, params=params, headers=headers).json()
        items.extend(body["value"])
        params = None
        if "@odata.deltaLink" in body:
            return items, body["@odata.deltaLink"]
        url = body["@odata.nextLink"]
    raise AssertionError("too many pages")


def _token(http: httpx.Client, url: str, account: dict[str, Any]) -> dict[str, str]:
    form = {
        "grant_type": "refresh_token",
        "client_id": account["client_id"],
        "client_secret": account["client_secret"],
        "refresh_token": account["refresh_token"],
    }
    return {"Authorization": f"Bearer {http.post(url, data=form).json()['access_token']}"}


@pytest.fixture(scope="module")
def clients(emulator):
    with emulator.sync_control() as control, httpx.Client(trust_env=False, timeout=15) as http:
        yield control, http


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rounds=st.lists(ops, min_size=1, max_size=3))
def test_google_incremental_sync_converges(emulator, clients, rounds):
    control, http = clients
    account = control.create_account("google")
    cal = account["primary_calendar_id"]
    headers = _token(http, emulator.google_token_url, account)
    url = f"{emulator.google_api_url}/calendars/primary/events"
    window = {
        "singleEvents": "true",
        "maxResults": "3",
        "timeMin": WINDOW[0].isoformat(),
        "timeMax": WINDOW[1].isoformat(),
    }
    created: list[tuple[str, datetime, bool]] = []
    items, token = _google_round(http, url, headers, window)
    mirror = {i["id"]: i for i in items}
    for round_ops in rounds:
        for op in round_ops:
            _apply(control, cal, created, op)
        changes, token = _google_round(
            http, url, headers, {"singleEvents": "true", "maxResults": "3", "syncToken": token}
        )
        for item in changes:
            if item["status"] == "cancelled":
                mirror.pop(item["id"], None)
            else:
                mirror[item["id"]] = item
        fresh, _ = _google_round(http, url, headers, window)
        assert {k: v for k, v in mirror.items() if _in_window(v)} == {i["id"]: i for i in fresh}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rounds=st.lists(ops, min_size=1, max_size=3))
def test_graph_delta_converges(emulator, clients, rounds):
    control, http = clients
    account = control.create_account("microsoft")
    cal = account["primary_calendar_id"]
    headers = {
        **_token(http, f"{emulator.microsoft_login_url}/common/oauth2/v2.0/token", account),
        "Prefer": "odata.maxpagesize=3",
    }
    url = f"{emulator.graph_url}/me/calendarView/delta"
    window = {"startDateTime": WINDOW[0].isoformat(), "endDateTime": WINDOW[1].isoformat()}
    created: list[tuple[str, datetime, bool]] = []
    items, link = _graph_round(http, url, headers, window)
    mirror = {i["id"]: i for i in items}
    for round_ops in rounds:
        for op in round_ops:
            _apply(control, cal, created, op)
        changes, link = _graph_round(http, link, headers, None)
        for item in changes:
            if "@removed" in item:
                mirror.pop(item["id"], None)
            else:
                mirror[item["id"]] = item
        fresh, _ = _graph_round(http, url, headers, window)
        assert mirror == {i["id"]: i for i in fresh}
