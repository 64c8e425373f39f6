"""Both providers over real HTTP against the emulator: sync rounds, token rotation, faults, push channels."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pytest

from calsync.providers.base import CalendarProvider, ChangePage, Credentials, ErrorKind, ProviderError
from calsync.providers.http import make_http_client
from calsync.providers.microsoft import MicrosoftProvider
from calsync.providers.registry import make_provider
from calsync.settings import Settings
from calsync_emulator.client import EmulatorControl, PlatformName
from calsync_emulator.testing import Receiver


def _name(provider: CalendarProvider) -> PlatformName:
    return cast(PlatformName, provider.platform)


def _credentials(account: dict[str, Any]) -> Credentials:
    return Credentials(account["client_id"], account["client_secret"], account["refresh_token"])


async def _pages(
    provider: CalendarProvider, token: str, calendar_id: str | None, now: datetime, cursor: str | None = None
) -> list[ChangePage]:
    window = {"window_start": now - timedelta(days=1), "window_end": now + timedelta(days=28)}
    return [page async for page in provider.list_changes(token, calendar_id, cursor=cursor, **window)]


def _at(now: datetime, days: int, hour: int) -> str:
    day = (now + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC).isoformat()


@pytest.fixture(params=["google", "microsoft"])
def platform(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def provider(platform: str, emu_settings: Settings, real_http: httpx.AsyncClient) -> CalendarProvider:
    return make_provider(platform, emu_settings, real_http)


async def test_full_list_then_incremental_returns_just_the_change(
    emu: EmulatorControl, platform: str, provider: CalendarProvider
) -> None:
    account = await emu.create_account(_name(provider), time_zone="Europe/Zurich")
    cal = account["primary_calendar_id"]
    now = await emu.now()
    created = [await emu.create_event(cal, _at(now, d, 9), _at(now, d, 10), summary=f"e{d}") for d in (1, 2, 3)]
    grant = await provider.refresh_access_token(_credentials(account))

    full = await _pages(provider, grant.access_token, None, now)
    assert [p.cursor is not None for p in full] == [False] * (len(full) - 1) + [True]
    live = {e.platform_uuid: e for p in full for e in p.events}
    assert {e.name for e in live.values()} == {"e1", "e2", "e3"}
    assert all(e.start_time is not None and e.start_time.tzinfo is not None and not e.is_deleted for e in live.values())

    cursor = full[-1].cursor
    quiet = await _pages(provider, grant.access_token, None, now, cursor)
    assert [e for p in quiet for e in p.events] == [] and [r for p in quiet for r in p.removed_ids] == []

    await emu.update_event(cal, created[1]["id"], summary="moved", start=_at(now, 2, 14), end=_at(now, 2, 15))
    changed = await _pages(provider, grant.access_token, None, now, quiet[-1].cursor)
    events = [e for p in changed for e in p.events]
    assert [(e.name, e.start_time) for e in events] == [("moved", datetime.fromisoformat(_at(now, 2, 14)))]
    assert events[0].platform_uuid in live

    await emu.delete_event(cal, created[0]["id"])
    deleted = await _pages(provider, grant.access_token, None, now, changed[-1].cursor)
    gone = [e.platform_uuid for p in deleted for e in p.events if e.is_deleted] + [
        r for p in deleted for r in p.removed_ids
    ]
    assert set(gone) == {created[0]["id"]}
    assert [e for p in deleted for e in p.events if not e.is_deleted] == []


async def test_all_day_and_time_zones(emu: EmulatorControl, platform: str, provider: CalendarProvider) -> None:
    account = await emu.create_account(_name(provider), time_zone="Pacific/Kiritimati")
    cal = account["primary_calendar_id"]
    now = await emu.now()
    day = (now + timedelta(days=3)).date()
    await emu.create_event(cal, day.isoformat(), (day + timedelta(days=1)).isoformat(), summary="holiday")
    await emu.create_event(
        cal,
        f"{(now + timedelta(days=4)).date()}T09:00:00",
        f"{(now + timedelta(days=4)).date()}T10:00:00",
        time_zone="America/New_York",
        summary="ny",
    )
    grant = await provider.refresh_access_token(_credentials(account))
    events = {e.name: e for p in await _pages(provider, grant.access_token, cal, now) for e in p.events}
    holiday = events["holiday"]
    assert holiday.is_all_day
    assert holiday.start_time == datetime(day.year, day.month, day.day, tzinfo=UTC)
    assert holiday.end_time == holiday.start_time + timedelta(days=1)
    ny_day = (now + timedelta(days=4)).date()
    ny = events["ny"]
    assert not ny.is_all_day
    expected = datetime(ny_day.year, ny_day.month, ny_day.day, 9, tzinfo=ZoneInfo("America/New_York"))
    assert ny.start_time == expected.astimezone(UTC)


async def test_expired_cursor(emu: EmulatorControl, platform: str, provider: CalendarProvider) -> None:
    account = await emu.create_account(_name(provider))
    now = await emu.now()
    grant = await provider.refresh_access_token(_credentials(account))
    cursor = (await _pages(provider, grant.access_token, None, now))[-1].cursor
    await emu.expire_sync_state(account["id"])
    with pytest.raises(ProviderError) as info:
        await _pages(provider, grant.access_token, None, now, cursor)
    assert info.value.kind is ErrorKind.SYNC_TOKEN_EXPIRED and not info.value.disconnects
    assert info.value.code in {"fullSyncRequired", "SyncStateNotFound"}


@pytest.mark.parametrize(
    ("platform", "reason", "code"),
    [
        ("google", "revoked", "invalid_grant"),
        ("google", "invalid_rapt", "invalid_rapt"),
        ("google", "admin_policy_enforced", "admin_policy_enforced"),
        ("microsoft", "revoked", "AADSTS50173"),
        ("microsoft", "invalid", "AADSTS70000"),
        ("microsoft", "inactive", "AADSTS700082"),
        ("microsoft", "interaction_required", "AADSTS50076"),
        ("microsoft", "mfa_required", "AADSTS50076"),
        ("microsoft", "consent_required", "AADSTS65001"),
    ],
)
async def test_revoked_grant(emu: EmulatorControl, provider: CalendarProvider, reason: str, code: str) -> None:
    account = await emu.create_account(_name(provider))
    await emu.revoke_grant(account["id"], reason)
    with pytest.raises(ProviderError) as info:
        await provider.refresh_access_token(_credentials(account))
    assert (info.value.kind, info.value.code) == (ErrorKind.GRANT_REVOKED, code)
    assert info.value.disconnects
    for secret in (account["refresh_token"], account["client_secret"]):
        assert secret not in info.value.message


async def test_wrong_client_secret_is_app_credentials(emu: EmulatorControl, provider: CalendarProvider) -> None:
    account = await emu.create_account(_name(provider))
    with pytest.raises(ProviderError) as info:
        await provider.refresh_access_token(Credentials(account["client_id"], "wrong-secret", account["refresh_token"]))
    assert info.value.kind is ErrorKind.APP_CREDENTIALS
    assert "wrong-secret" not in info.value.message


async def test_microsoft_rotates_refresh_tokens(
    emu: EmulatorControl, emu_settings: Settings, real_http: httpx.AsyncClient
) -> None:
    provider = make_provider("microsoft", emu_settings, real_http)
    account = await emu.create_account("microsoft")
    first = await provider.refresh_access_token(_credentials(account))
    assert first.refresh_token and first.refresh_token != account["refresh_token"]
    second = await provider.refresh_access_token(
        Credentials(account["client_id"], account["client_secret"], first.refresh_token)
    )
    assert second.refresh_token and second.refresh_token not in (first.refresh_token, account["refresh_token"])
    assert second.expires_at > datetime.now(UTC)
    google = make_provider("google", emu_settings, real_http)
    g_account = await emu.create_account("google")
    assert (await google.refresh_access_token(_credentials(g_account))).refresh_token is None


@pytest.mark.parametrize(
    ("platform", "fault", "code"),
    [
        ("google", "throttle_429", "rateLimitExceeded"),
        ("google", "rate_limit_403", "rateLimitExceeded"),
        ("google", "user_rate_limit_403", "userRateLimitExceeded"),
        ("google", "quota_exceeded_403", "quotaExceeded"),
        ("microsoft", "throttle_429", "TooManyRequests"),
        ("microsoft", "application_throttled_429", "ApplicationThrottled"),
    ],
)
async def test_throttling_never_disconnects_and_carries_retry_after(
    emu: EmulatorControl, provider: CalendarProvider, fault: str, code: str
) -> None:
    account = await emu.create_account(_name(provider))
    now = await emu.now()
    grant = await provider.refresh_access_token(_credentials(account))
    await emu.add_fault(fault, platform=_name(provider), account_id=account["id"], count=1, retry_after=7)
    with pytest.raises(ProviderError) as info:
        await _pages(provider, grant.access_token, None, now)
    assert (info.value.kind, info.value.code, info.value.disconnects) == (ErrorKind.THROTTLED, code, False)
    assert info.value.retry_after == 7.0
    assert (await _pages(provider, grant.access_token, None, now))[-1].cursor  # the next try goes through


@pytest.mark.parametrize("fault", ["error_500", "error_503", "error_504"])
async def test_server_errors_are_transient(emu: EmulatorControl, provider: CalendarProvider, fault: str) -> None:
    account = await emu.create_account(_name(provider))
    now = await emu.now()
    grant = await provider.refresh_access_token(_credentials(account))
    await emu.add_fault(fault, platform=_name(provider), count=1)
    with pytest.raises(ProviderError) as info:
        await _pages(provider, grant.access_token, None, now)
    assert info.value.kind is ErrorKind.TRANSIENT


async def test_timeout_and_refused_connection_are_transient(
    emu: EmulatorControl, provider: CalendarProvider, emu_settings: Settings
) -> None:
    account = await emu.create_account(_name(provider))
    await emu.add_fault("latency", platform=_name(provider), latency_ms=1500, count=1)
    async with make_http_client(10) as client:  # the client the worker uses: httpx's API over aiohttp's pool
        slow = make_provider(
            provider.platform, emu_settings.model_copy(update={"provider_timeout_seconds": 0.3}), client
        )
        with pytest.raises(ProviderError) as info:
            await slow.refresh_access_token(_credentials(account))
        assert (info.value.kind, info.value.code) == (ErrorKind.TRANSIENT, "ReadTimeout")
        closed = Settings(google_oauth_token_url="http://127.0.0.1:9/token", microsoft_login_url="http://127.0.0.1:9")
        with pytest.raises(ProviderError) as info:
            await make_provider(provider.platform, closed, client).refresh_access_token(_credentials(account))
        assert (info.value.kind, info.value.code) == (ErrorKind.TRANSIENT, "ConnectError")


async def test_access_token_rejected_is_401_transient(emu: EmulatorControl, provider: CalendarProvider) -> None:
    account = await emu.create_account(_name(provider))
    now = await emu.now()
    grant = await provider.refresh_access_token(_credentials(account))
    await emu.expire_access_tokens(account["id"])
    with pytest.raises(ProviderError) as info:
        await _pages(provider, grant.access_token, None, now)
    assert (info.value.kind, info.value.status) == (ErrorKind.TRANSIENT, 401)
    assert grant.access_token not in info.value.message


async def test_missing_scope_and_missing_calendar(emu: EmulatorControl, provider: CalendarProvider) -> None:
    account = await emu.create_account(_name(provider))
    now = await emu.now()
    grant = await provider.refresh_access_token(_credentials(account))
    with pytest.raises(ProviderError) as info:
        await _pages(provider, grant.access_token, "no-such-calendar", now)
    assert info.value.kind is ErrorKind.CALENDAR_GONE
    await emu.patch_account(account["id"], calendar_access=False)
    with pytest.raises(ProviderError) as info:
        await _pages(provider, grant.access_token, None, now)
    assert info.value.kind is ErrorKind.SCOPE_MISSING and info.value.disconnects


async def test_microsoft_mailbox_unavailable(
    emu: EmulatorControl, emu_settings: Settings, real_http: httpx.AsyncClient
) -> None:
    provider = make_provider("microsoft", emu_settings, real_http)
    account = await emu.create_account("microsoft")
    grant = await provider.refresh_access_token(_credentials(account))
    await emu.patch_account(account["id"], mailbox_enabled=False)
    with pytest.raises(ProviderError) as info:
        await provider.list_calendars(grant.access_token)
    assert info.value.kind is ErrorKind.MAILBOX_UNAVAILABLE and info.value.code == "MailboxNotEnabledForRESTAPI"


async def test_calendars_get_event_and_escaped_ids(emu: EmulatorControl, provider: CalendarProvider) -> None:
    odd_id = "en.usa#holiday@group.v.calendar.google.com" if provider.platform == "google" else None
    account = await emu.create_account(
        _name(provider), calendars=[{"name": "Holidays", **({"id": odd_id} if odd_id else {})}]
    )
    side = account["calendars"][1]["id"]
    now = await emu.now()
    # The emulator's control client puts ids into its paths unescaped, so escape for it here.
    event = await emu.create_event(quote(side, safe="@"), _at(now, 2, 9), _at(now, 2, 10), summary="side event")
    grant = await provider.refresh_access_token(_credentials(account))
    calendars = await provider.list_calendars(grant.access_token)
    assert [(c.id, c.is_primary) for c in calendars] == [(account["primary_calendar_id"], True), (side, False)]
    assert calendars[1].name == "Holidays"
    listed = [e.name for p in await _pages(provider, grant.access_token, side, now) for e in p.events]
    assert listed == ["side event"]
    fetched = await provider.get_event(grant.access_token, side, event["id"])
    assert fetched is not None and fetched.name == "side event"
    assert await provider.get_event(grant.access_token, side, "nope#/?") is None


async def test_microsoft_small_pages(
    emu: EmulatorControl, emu_settings: Settings, real_http: httpx.AsyncClient
) -> None:
    provider = MicrosoftProvider(
        real_http,
        login_url=emu_settings.microsoft_login_url,
        graph_url=emu_settings.microsoft_graph_url,
        timeout_seconds=10,
        page_size=2,
    )
    account = await emu.create_account("microsoft")
    cal = account["primary_calendar_id"]
    now = await emu.now()
    for d in range(1, 6):
        await emu.create_event(cal, _at(now, d, 9), _at(now, d, 10), summary=f"e{d}")
    await emu.set_config(graph_empty_page_first=True)
    grant = await provider.refresh_access_token(_credentials(account))
    pages = await _pages(provider, grant.access_token, cal, now)
    assert [len(p.events) for p in pages] == [0, 2, 2, 1]
    assert pages[-1].cursor is not None and all(p.cursor is None for p in pages[:-1])


async def test_google_empty_first_page(emu: EmulatorControl, provider: CalendarProvider) -> None:
    if provider.platform != "google":
        pytest.skip("Google paging quirk")
    account = await emu.create_account("google")
    now = await emu.now()
    await emu.create_event(account["primary_calendar_id"], _at(now, 1, 9), _at(now, 1, 10), summary="one")
    await emu.set_config(google_empty_page_first=True)
    grant = await provider.refresh_access_token(_credentials(account))
    pages = await _pages(provider, grant.access_token, None, now)
    assert [[e.name for e in p.events] for p in pages] == [[], ["one"]]


async def test_push_channel_lifecycle(emu: EmulatorControl, provider: CalendarProvider, receiver: Receiver) -> None:
    account = await emu.create_account(_name(provider))
    cal = account["primary_calendar_id"]
    now = await emu.now()
    grant = await provider.refresh_access_token(_credentials(account))
    channel = await provider.open_channel(
        grant.access_token,
        cal,
        address=f"{receiver.base_url}/notify",
        lifecycle_address=f"{receiver.base_url}/lifecycle" if provider.platform == "microsoft" else None,
        token="opaque-token-123",
        expires_at=now + timedelta(days=3),
    )
    assert channel.token == "opaque-token-123"
    assert abs((channel.expires_at - (now + timedelta(days=3))).total_seconds()) < 5
    if provider.platform == "google":
        assert channel.resource_id and len(channel.id) == 36
        assert [c["id"] for c in await emu.channels()] == [channel.id]
        assert await provider.renew_channel(grant.access_token, channel, now + timedelta(days=6)) is None
    else:
        assert channel.resource_id is None
        [sub] = await emu.subscriptions()
        assert sub["id"] == channel.id
        assert {r.path for r in receiver.received if "validationToken" in r.query} == {"/notify", "/lifecycle"}
        renewed = await provider.renew_channel(grant.access_token, channel, now + timedelta(days=6))
        assert renewed is not None and renewed.id == channel.id
        assert abs((renewed.expires_at - (now + timedelta(days=6))).total_seconds()) < 5

    await emu.create_event(cal, _at(now, 1, 9), _at(now, 1, 10), summary="ping")
    await emu.wait_notifications(5)
    notified = [r for r in receiver.received if r.path == "/notify" and "validationToken" not in r.query]
    assert notified, "a change must reach the channel's address"
    if provider.platform == "google":
        assert {r.headers.get("x-goog-channel-token") for r in notified} == {"opaque-token-123"}
    else:
        assert {n["clientState"] for r in notified for n in r.json()["value"]} == {"opaque-token-123"}

    await provider.close_channel(grant.access_token, channel)
    await provider.close_channel(grant.access_token, channel)  # already gone: fine
    if provider.platform == "microsoft":
        assert await emu.subscriptions() == []
        with pytest.raises(ProviderError) as info:
            await provider.renew_channel(grant.access_token, channel, now + timedelta(days=1))
        assert info.value.kind is ErrorKind.NOT_FOUND


async def test_dates_are_stable_across_the_date_line(emu: EmulatorControl, provider: CalendarProvider) -> None:
    # An all-day event created on the calendar's date in a zone 14 h ahead of UTC keeps that date.
    account = await emu.create_account(_name(provider), time_zone="Pacific/Kiritimati")
    now = await emu.now()
    day: date = (now + timedelta(days=5)).date()
    created = await emu.create_event(
        account["primary_calendar_id"], day.isoformat(), (day + timedelta(days=2)).isoformat(), summary="two days"
    )
    grant = await provider.refresh_access_token(_credentials(account))
    event = await provider.get_event(grant.access_token, None, created["id"])
    assert event is not None and event.is_all_day
    assert (event.start_time, event.end_time) == (
        datetime(day.year, day.month, day.day, tzinfo=UTC),
        datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=2),
    )
