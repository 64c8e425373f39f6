"""Control API: fault injection, request log and counters, reset, seeding, the sync client and helpers."""

from __future__ import annotations

import time

import httpx
import pytest

from calsync_emulator.client import EmulatorError
from calsync_emulator.testing import running_emulator_async
from calsync_emulator.urls import calsync_settings_env
from tests.emulator.conftest import google_pages, google_token, graph_pages, ms_token

WINDOW = {"startDateTime": "2026-03-01T00:00:00Z", "endDateTime": "2026-04-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("kind", "status", "domain", "reason"),
    [
        ("throttle_429", 429, "usageLimits", "rateLimitExceeded"),
        ("rate_limit_403", 403, "usageLimits", "rateLimitExceeded"),
        ("user_rate_limit_403", 403, "usageLimits", "userRateLimitExceeded"),
        ("quota_exceeded_403", 403, "usageLimits", "quotaExceeded"),
        ("error_500", 500, "global", "backendError"),
        ("error_503", 503, "global", "backendError"),
    ],
)
async def test_google_faults_next_n_requests(emulator, control, http, kind, status, domain, reason):
    account = await control.create_account("google")
    headers = await google_token(http, emulator, account)
    url = f"{emulator.google_api_url}/calendars/primary/events"
    await control.add_fault(kind, platform="google", count=2, retry_after=3)
    for _ in range(2):
        response = await http.get(url, headers=headers)
        assert response.status_code == status
        error = response.json()["error"]
        assert error["code"] == status and error["errors"][0]["domain"] == domain
        assert error["errors"][0]["reason"] == reason
        assert response.headers["retry-after"] == "3"
    assert (await http.get(url, headers=headers)).status_code == 200
    assert await control.faults() == []


async def test_graph_throttling_bodies(emulator, control, http):
    account = await control.create_account("microsoft")
    headers = await ms_token(http, emulator, account)
    url = f"{emulator.graph_url}/me/calendarView/delta"
    await control.add_fault("throttle_429", account_id=account["id"], count=1)
    response = await http.get(url, headers=headers, params=WINDOW)
    assert response.status_code == 429 and response.headers["retry-after"] == "10"
    error = response.json()["error"]
    assert error["code"] == "TooManyRequests" and error["message"] == "Please retry again later."
    assert error["innerError"]["status"] == "429" and error["innerError"]["message"] == "Please retry after"
    await control.add_fault("application_throttled_429", account_id=account["id"], count=1, retry_after=2)
    response = await http.get(url, headers=headers, params=WINDOW)
    assert response.json()["error"]["code"] == "ApplicationThrottled" and response.headers["retry-after"] == "2"
    await control.add_fault("error_503", account_id=account["id"], count=1)
    response = await http.get(url, headers=headers, params=WINDOW)
    assert response.status_code == 503 and response.json()["error"]["code"] == "serviceNotAvailable"
    assert (await http.get(url, headers=headers, params=WINDOW)).status_code == 200


async def test_fault_scoping_fraction_and_latency(emulator, control, http):
    a = await control.create_account("google")
    b = await control.create_account("google")
    ha, hb = await google_token(http, emulator, a), await google_token(http, emulator, b)
    url = f"{emulator.google_api_url}/calendars/primary"
    fault = await control.add_fault("error_500", account_id=a["id"])  # unlimited, account a only
    assert (await http.get(url, headers=ha)).status_code == 500
    assert (await http.get(url, headers=hb)).status_code == 200
    await control.remove_fault(fault["id"])
    await control.add_fault("error_500", fraction=0.5, path_contains="/calendars/primary")
    statuses = [(await http.get(url, headers=hb)).status_code for _ in range(40)]
    assert 5 < statuses.count(500) < 35 and statuses.count(200) > 5
    await control.clear_faults()
    await control.add_fault("latency", latency_ms=150, count=1)
    started = time.perf_counter()
    assert (await http.get(url, headers=hb)).status_code == 200
    assert time.perf_counter() - started >= 0.15


async def test_request_log_and_counters(emulator, control, http):
    account = await control.create_account("microsoft")
    await control.create_event(account["primary_calendar_id"], "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z")
    await control.clear_requests()
    headers = await ms_token(http, emulator, account)
    _, responses = await graph_pages(http, f"{emulator.graph_url}/me/calendarView/delta", headers, WINDOW)
    counters = await control.counters(account["id"])
    delta = counters["endpoints"]["GET /microsoft/graph/v1.0/me/calendarView/delta"]
    assert delta["requests"] == len(responses)
    assert delta["response_bytes"] == sum(len(r.content) for r in responses)
    assert counters["endpoints"]["POST /microsoft/login/{tenant}/oauth2/v2.0/token"]["requests"] == 1
    log = await control.requests(account["id"])
    assert [r["path"] for r in log][-1].endswith("/calendarView/delta") and log[-1]["status"] == 200
    await control.reset()
    assert (await control.counters())["requests"] == 0
    with pytest.raises(EmulatorError) as err:
        await control.get_account(account["id"])
    assert err.value.status == 404


async def test_control_validation_errors(control):
    account = await control.create_account("google")
    cal = account["primary_calendar_id"]
    with pytest.raises(EmulatorError) as err:
        await control.create_event(cal, "2026-03-02T10:00:00Z", "2026-03-02T09:00:00Z")
    assert err.value.status == 400
    with pytest.raises(EmulatorError) as err:
        await control.create_event(cal, "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z", recurrence=["RRULE:FREQ=NOPE"])
    assert err.value.status == 400
    with pytest.raises(EmulatorError) as err:
        await control.create_account("google", email=account["email"])
    assert err.value.status == 409
    with pytest.raises(EmulatorError) as err:
        await control.revoke_grant(account["id"], "inactive")  # a Microsoft-only reason
    assert err.value.status == 400


async def test_seeding_is_fast_lazy_and_deterministic(emulator, control, http):
    # How long seeding takes is measured by bench/emulator_cost.py, not asserted here.
    summary = await control.seed(
        seed=7, google_accounts=2000, microsoft_accounts=2000, events_per_calendar=200, recurring_per_calendar=5
    )
    assert summary["accounts"] == 4000 and summary["calendars"] == 4000
    google = summary["google"]
    listing = await control.list_accounts("google", offset=1999, limit=1)
    account = listing["items"][0]
    assert account["refresh_token"] == google["refresh_token"].replace("g0", "g1999")
    headers = await google_token(http, emulator, account)
    items, _ = await google_pages(
        http, f"{emulator.google_api_url}/calendars/primary/events", headers, {"maxResults": "2500"}
    )
    assert len(items) == 200 and sum(1 for i in items if "recurrence" in i) == 5
    microsoft = (await control.list_accounts("microsoft", offset=3, limit=1))["items"][0]
    ms_headers = await ms_token(http, emulator, microsoft)
    now = await control.now()
    window = {
        "startDateTime": (now.replace(hour=0, minute=0, second=0, microsecond=0)).isoformat(),
        "endDateTime": (now.replace(hour=0, minute=0, second=0, microsecond=0)).isoformat()[:10] + "T23:59:59Z",
    }
    view, _ = await graph_pages(
        http, f"{emulator.graph_url}/me/calendarView/delta", {**ms_headers, "Prefer": "odata.maxpagesize=500"}, window
    )
    assert all(i["type"] in ("singleInstance", "occurrence") for i in view)

    # the same seed gives the same population in another emulator
    async with running_emulator_async() as other, other.control() as other_control:
        await other_control.seed(seed=7, google_accounts=2000, microsoft_accounts=2000)
        again = (await other_control.list_accounts("google", offset=1999, limit=1))["items"][0]
        other_items, _ = await google_pages(
            http,
            f"{other.google_api_url}/calendars/primary/events",
            await google_token(http, other, again),
            {"maxResults": "2500"},
        )
    assert [(i["id"], i["start"], i["summary"]) for i in other_items] == [
        (i["id"], i["start"], i["summary"]) for i in items
    ]


async def test_seeding_with_distinct_accounts_repeats_their_events(emulator, control, http):
    await control.seed(seed=8, google_accounts=5, microsoft_accounts=5, events_per_calendar=30, distinct_accounts=2)

    async def google_items(index: int) -> list[tuple[str, str, str]]:
        account = (await control.list_accounts("google", offset=index, limit=1))["items"][0]
        items, _ = await google_pages(
            http,
            f"{emulator.google_api_url}/calendars/primary/events",
            await google_token(http, emulator, account),
            {"maxResults": "2500"},
        )
        return [(i["id"], str(i["start"]), i["summary"]) for i in items]

    first, second, third = await google_items(0), await google_items(1), await google_items(4)
    assert len(first) == 30 and first != second
    assert third == first  # account 4 has account 0's events (4 % 2), ids included
    microsoft = [
        [e["id"] for e in await control.list_events(a["primary_calendar_id"])]
        for a in (await control.list_accounts("microsoft", offset=0, limit=5))["items"]
    ]
    assert microsoft[3] == microsoft[1] != microsoft[0] and microsoft[0][0] not in {i for i, _, _ in first}


def test_sync_client_and_settings_env(emulator):
    env = calsync_settings_env(emulator.base_url + "/")
    assert env == {
        "CALSYNC_GOOGLE_OAUTH_TOKEN_URL": f"{emulator.base_url}/google/token",
        "CALSYNC_GOOGLE_OAUTH_AUTHORIZE_URL": f"{emulator.base_url}/google/auth",
        "CALSYNC_GOOGLE_API_URL": f"{emulator.base_url}/google/calendar/v3",
        "CALSYNC_MICROSOFT_LOGIN_URL": f"{emulator.base_url}/microsoft/login",
        "CALSYNC_MICROSOFT_GRAPH_URL": f"{emulator.base_url}/microsoft/graph/v1.0",
    }
    assert emulator.settings_env() == env
    with emulator.sync_control() as control:
        assert control.health()
        account = control.create_account("microsoft")
        assert control.get_account(account["id"])["email"] == account["email"]


async def test_emulator_starts_and_stops_cleanly():
    async with running_emulator_async() as emulator, emulator.control() as control:
        assert await control.health()
        base_url = emulator.base_url
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{base_url}/_emulator/health")


async def test_untouched_seeded_calendars_are_dropped_and_regenerate_identically(emulator, control, http):
    await control.set_config(seed_cache_calendars=1)
    await control.seed(seed=3, google_accounts=3, events_per_calendar=20, recurring_per_calendar=2)
    accounts = (await control.list_accounts("google"))["items"]
    url = f"{emulator.google_api_url}/calendars/primary/events"
    headers = [await google_token(http, emulator, a) for a in accounts]
    first, pages = await google_pages(http, url, headers[0], {"singleEvents": "true"})
    token = pages[-1]["nextSyncToken"]
    for other in headers[1:]:  # evicts account 0's generated events
        await google_pages(http, url, other, {})
    again, _ = await google_pages(http, url, headers[0], {"singleEvents": "true"})
    assert again == first
    assert (await google_pages(http, url, headers[0], {"singleEvents": "true", "syncToken": token}))[0] == []
    # a changed seeded calendar is kept, change included
    cal = accounts[0]["primary_calendar_id"]
    await control.update_event(cal, first[0]["id"], summary="changed")
    for other in headers[1:]:
        await google_pages(http, url, other, {})
    changed, _ = await google_pages(http, url, headers[0], {"singleEvents": "true", "syncToken": token})
    assert [i["summary"] for i in changed] == ["changed"]


async def test_sync_token_age_limit_and_deleted_calendar(emulator, control, http):
    account = await control.create_account("google", calendars=[{"name": "Doomed"}])
    doomed = account["calendars"][1]["id"]
    headers = await google_token(http, emulator, account)
    url = f"{emulator.google_api_url}/calendars/primary/events"
    _, pages = await google_pages(http, url, headers, {})
    await control.set_config(sync_token_ttl_seconds=3600)
    assert (await http.get(url, headers=headers, params={"syncToken": pages[-1]["nextSyncToken"]})).status_code == 200
    await control.advance(3601)
    headers = await google_token(http, emulator, account)
    assert (await http.get(url, headers=headers, params={"syncToken": pages[-1]["nextSyncToken"]})).status_code == 410
    assert (await http.get(f"{emulator.google_api_url}/calendars/{doomed}/events", headers=headers)).status_code == 200
    await control.delete_calendar(doomed)
    gone = await http.get(f"{emulator.google_api_url}/calendars/{doomed}/events", headers=headers)
    assert gone.status_code == 404
    with pytest.raises(EmulatorError) as err:
        await control.delete_calendar(account["primary_calendar_id"])
    assert err.value.status == 400


async def test_injected_clock_drives_expiry(http):
    from datetime import UTC, datetime

    from calsync.clock import FrozenClock
    from calsync_emulator.state import EmulatorState

    frozen = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
    async with (
        running_emulator_async(EmulatorState(clock=FrozenClock(frozen))) as emulator,
        emulator.control() as control,
    ):
        assert await control.now() == frozen
        account = await control.create_account("google")
        headers = await google_token(http, emulator, account)
        assert (await control.advance(3598)) == frozen.replace(minute=59, second=58)
        assert (await http.get(f"{emulator.google_api_url}/calendars/primary", headers=headers)).status_code == 200
        await control.advance(2)
        assert (await http.get(f"{emulator.google_api_url}/calendars/primary", headers=headers)).status_code == 401


def test_module_entry_point_serves(tmp_path):
    import socket
    import subprocess
    import sys

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "calsync_emulator", "--port", str(port)])
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/_emulator/health", trust_env=False)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "emulator did not start"
                time.sleep(0.05)
        assert response.json() == {"status": "ok"}
    finally:
        process.terminate()
        process.wait(timeout=10)
