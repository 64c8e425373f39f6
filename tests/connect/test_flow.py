"""The hosted connect flow over real sockets, calsync and the emulator, on both databases: connect on each
platform, and every way it can end badly (denied, scope unticked, no offline access, expired, reused)."""

from __future__ import annotations

from datetime import timedelta

from calsync.context import AppContext
from calsync.store.queries import calendars as calendar_queries
from tests.connect.support import GOOGLE_CALENDAR_SCOPE, GOOGLE_CLIENT, RETURN_URL, Browser, Connect


async def _stored_refresh_token(context: AppContext, project_id: int, calendar_id: str) -> str:
    async with context.db.read() as session:
        calendar = await calendar_queries.get_calendar(session, project_id, calendar_id)
        assert calendar is not None
        return str(context.secrets.decrypt_json(calendar.encrypted_credentials)["refresh_token"])


async def test_google_connect_creates_the_calendar(connect: Connect, context: AppContext) -> None:
    browser = Browser()
    consent = await connect.run(
        "google", browser, metadata={"user": "42"}, deduplication_key="user-42", state="opaque-1"
    )
    landing = await browser.consent(consent)
    assert landing.returned, landing
    assert landing.status == 303
    assert landing.query["state"] == "opaque-1"
    calendar_id = landing.query["calendar_id"]
    calendar = (await connect.tenant.client.get(f"/api/v1/calendars/{calendar_id}")).json()
    assert calendar["platform"] == "google"
    assert calendar["deduplication_key"] == "user-42"
    assert calendar["metadata"] == {"user": "42"}
    account = await connect.control.get_account(connect.accounts["google"]["id"])
    assert await _stored_refresh_token(context, connect.tenant.project_id, calendar_id) == account["refresh_token"]
    sessions = (await connect.tenant.client.get("/api/v1/calendars")).json()["results"]
    assert len(sessions) == 1
    await browser.aclose()


async def test_microsoft_connect_with_the_platform_preset(connect: Connect, context: AppContext) -> None:
    browser = Browser()
    created = await connect.session(platform="microsoft", state="s-2")
    consent = await browser.get(created["url"])
    assert "offline_access" in consent.html and "choose-google" not in consent.html
    landing = await browser.consent(consent)
    assert landing.returned and landing.query["state"] == "s-2", landing
    found = await connect.get_session(created["id"])
    assert found["status"] == "completed"
    assert found["calendar_id"] == landing.query["calendar_id"]
    assert found["platform"] == "microsoft"
    calendar = (await connect.tenant.client.get(f"/api/v1/calendars/{found['calendar_id']}")).json()
    assert calendar["platform"] == "microsoft"
    await browser.aclose()


async def test_the_user_denies(connect: Connect) -> None:
    for platform in ("google", "microsoft"):
        browser = Browser()
        consent = await connect.run(platform, browser, state=f"deny-{platform}")
        landing = await browser.consent(consent, allow=False)
        assert landing.returned, landing
        assert landing.query == {"error": "user_denied", "state": f"deny-{platform}"}
        await browser.aclose()
    assert (await connect.tenant.client.get("/api/v1/calendars")).json()["results"] == []


async def test_calendar_scope_unticked(connect: Connect) -> None:
    browser = Browser()
    created = await connect.session(platform="google", state="s")
    consent = await browser.get(created["url"])
    landing = await browser.consent(consent, scopes=[])
    assert landing.query == {"error": "scope_not_granted", "state": "s"}
    assert (await connect.get_session(created["id"]))["error"] == "scope_not_granted"
    await browser.aclose()


async def test_microsoft_without_offline_access_gets_no_refresh_token(connect: Connect) -> None:
    browser = Browser()
    created = await connect.session(platform="microsoft")
    consent = await browser.get(created["url"])
    landing = await browser.consent(consent, scopes=["https://graph.microsoft.com/Calendars.Read"])
    assert landing.query == {"error": "scope_not_granted"}
    await browser.aclose()


async def test_an_expired_session(connect: Connect, context: AppContext) -> None:
    browser = Browser()
    created = await connect.session(state="late")
    real_clock = context.clock
    context.clock = lambda: real_clock() + timedelta(minutes=16)
    try:
        landing = await browser.get(created["url"])
    finally:
        context.clock = real_clock
    assert landing.query == {"error": "session_expired", "state": "late"}
    found = await connect.get_session(created["id"])
    assert (found["status"], found["error"]) == ("failed", "session_expired")
    await browser.aclose()


async def test_a_session_expiring_at_the_consent_screen(connect: Connect, context: AppContext) -> None:
    browser = Browser()
    consent = await connect.run("google", browser, state="slow")
    real_clock = context.clock
    context.clock = lambda: real_clock() + timedelta(minutes=16)
    try:
        landing = await browser.consent(consent)
    finally:
        context.clock = real_clock
    assert landing.query == {"error": "session_expired", "state": "slow"}
    await browser.aclose()


async def test_the_link_is_single_use(connect: Connect) -> None:
    first, second = Browser(), Browser()
    created = await connect.session(state="once")
    page = await first.get(created["url"])
    assert page.status == 200
    again = await second.get(created["url"])
    assert again.query == {"error": "session_already_used", "state": "once"}
    # The first browser still finishes.
    consent = await first.choose(page, "google")
    landing = await first.consent(consent)
    assert "calendar_id" in landing.query
    await first.aclose()
    await second.aclose()


async def test_a_replayed_callback_creates_nothing_more(connect: Connect) -> None:
    browser = Browser()
    consent = await connect.run("google", browser, state="r")
    decided = await browser.client.post(
        consent.url.rsplit("/", 1)[0] + "/authorize/decide",
        data={
            "request": consent.html.split('name=request value="')[1].split('"')[0],
            "decision": "allow",
            "account": connect.accounts["google"]["id"],
            "scope": GOOGLE_CALENDAR_SCOPE,
        },
    )
    callback_url = decided.headers["location"]
    landing = await browser.get(callback_url)
    assert "calendar_id" in landing.query
    replay = await browser.get(callback_url)
    assert replay.query == {"error": "session_already_used", "state": "r"}
    assert len((await connect.tenant.client.get("/api/v1/calendars")).json()["results"]) == 1
    await browser.aclose()


async def test_reconnect_keeps_the_calendar(connect: Connect, context: AppContext) -> None:
    account = connect.accounts["google"]
    created = await connect.tenant.client.post(
        "/api/v1/calendars",
        json={
            "platform": "google",
            "client_id": GOOGLE_CLIENT[0],
            "client_secret": GOOGLE_CLIENT[1],
            "refresh_token": account["refresh_token"],
            "deduplication_key": "user-7",
        },
    )
    assert created.status_code == 201, created.text
    calendar_id = created.json()["id"]
    browser = Browser()
    consent = await connect.run("google", browser, deduplication_key="user-7")
    landing = await browser.consent(consent)
    assert landing.query["calendar_id"] == calendar_id
    stored = await _stored_refresh_token(context, connect.tenant.project_id, calendar_id)
    assert stored != account["refresh_token"]
    assert stored == (await connect.control.get_account(account["id"]))["refresh_token"]
    assert len((await connect.tenant.client.get("/api/v1/calendars")).json()["results"]) == 1
    await browser.aclose()


async def test_settings_never_show_secrets(connect: Connect) -> None:
    response = await connect.tenant.client.get("/api/v1/connect_settings")
    body = response.json()
    assert "secret-1" not in response.text
    assert body["google"] == {
        "client_id": GOOGLE_CLIENT[0],
        "client_secret_set": True,
        "redirect_uri": connect.redirect_uri("google"),
    }
    assert body["return_urls"] == [RETURN_URL]
    removed = await connect.tenant.client.patch("/api/v1/connect_settings", json={"microsoft": None})
    assert removed.json()["microsoft"] is None
    refused = await connect.tenant.client.post("/api/v1/connect_sessions", json={"platform": "microsoft"})
    assert refused.status_code == 400
