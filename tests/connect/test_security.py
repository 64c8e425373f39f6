"""Hosted connect's defences: forged and replayed callbacks, a swapped session, return URLs off the list, another
project's session, CSRF, rate limits, security headers, and nothing secret in the logs. Both databases."""

from __future__ import annotations

from urllib.parse import urljoin

import pytest
from fastapi import FastAPI

from calsync.connect.pages import ConnectState
from calsync.context import AppContext
from tests.connect.support import GOOGLE_CALENDAR_SCOPE, GOOGLE_CLIENT, RETURN_URL, Browser, Connect
from tests.support.service import Tenant


async def _callback_url(connect: Connect, browser: Browser, **session: str) -> str:
    """Run a Google session up to the platform's answer, and return the callback URL without fetching it."""
    consent = await connect.run("google", browser, **session)
    request_id = consent.html.split('name=request value="')[1].split('"')[0]
    decided = await browser.post_form(
        urljoin(consent.url, "authorize/decide"),
        [
            ("request", request_id),
            ("decision", "allow"),
            ("account", connect.accounts["google"]["id"]),
            ("scope", GOOGLE_CALENDAR_SCOPE),
        ],
    )
    location: str = decided.headers["location"]
    assert location.startswith(connect.redirect_uri("google"))
    return location


def _connect_state(app: FastAPI) -> ConnectState:
    mounted = next(route for route in app.routes if getattr(route, "path", "") == "/connect")
    state = mounted.app.state.connect  # type: ignore[attr-defined]
    assert isinstance(state, ConnectState)
    return state


async def test_a_forged_state_changes_nothing(connect: Connect) -> None:
    browser = Browser()
    created = await connect.session(state="s")
    await browser.get(created["url"])
    response = await browser.client.get(f"{connect.api_url}/connect/callback/google?code=stolen&state=forged")
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "invalid_link" in response.text
    assert response.headers["referrer-policy"] == "no-referrer"
    assert (await connect.get_session(created["id"]))["status"] == "opened"
    await browser.aclose()


async def test_a_state_sent_to_the_other_platforms_callback_is_refused(connect: Connect) -> None:
    browser = Browser()
    callback = await _callback_url(connect, browser)
    swapped = callback.replace("/callback/google", "/callback/microsoft")
    response = await browser.client.get(swapped)
    assert response.status_code == 400 and "location" not in response.headers
    landing = await browser.get(callback)
    assert "calendar_id" in landing.query
    await browser.aclose()


async def test_a_swapped_session_is_refused(connect: Connect) -> None:
    """An attacker's callback (their code, their session's state) loaded in a victim's browser must not attach the
    attacker's calendar grant to anything: the victim's cookie names another session."""
    attacker, victim = Browser(), Browser()
    callback = await _callback_url(connect, attacker, state="attacker")
    victim_session = await connect.session(state="victim")
    await victim.get(victim_session["url"])
    response = await victim.client.get(callback)
    assert response.status_code == 400
    assert "location" not in response.headers and "session_mismatch" in response.text
    # A browser with no cookie at all is refused the same way.
    bare = await Browser().client.get(callback)
    assert bare.status_code == 400 and "session_mismatch" in bare.text
    assert (await connect.tenant.client.get("/api/v1/calendars")).json()["results"] == []
    # The attacker's own browser could still finish its own session: only its holder can.
    landing = await attacker.get(callback)
    assert landing.query["state"] == "attacker" and "calendar_id" in landing.query
    await attacker.aclose()
    await victim.aclose()


async def test_a_replayed_code_is_refused_by_the_platform(connect: Connect, context: AppContext) -> None:
    """The callback is single use in calsync; the code itself is single use at the platform too."""
    browser = Browser()
    callback = await _callback_url(connect, browser, state="r")
    landing = await browser.get(callback)
    assert "calendar_id" in landing.query
    replay = await browser.get(callback)
    assert replay.query == {"error": "session_already_used", "state": "r"}


async def test_return_urls_are_matched_exactly(connect: Connect) -> None:
    client = connect.tenant.client
    for url in (
        RETURN_URL + "/",
        RETURN_URL + "?x=1",
        RETURN_URL.upper(),
        "https://app.example.com.evil.test/connected",
        "https://evil.test/",
    ):
        response = await client.post("/api/v1/connect_sessions", json={"return_url": url})
        assert response.status_code == 400, url
        assert "return_url" in response.json()
    for bad in ("http://app.example.com/x", "javascript:alert(1)", "//evil.test/", "https://user:pw@app.example.com/"):
        response = await client.patch("/api/v1/connect_settings", json={"return_urls": [bad]})
        assert response.status_code == 400, bad


async def test_a_return_url_removed_meanwhile_is_not_used(connect: Connect) -> None:
    browser = Browser()
    consent = await connect.run("google", browser)
    await connect.tenant.client.patch("/api/v1/connect_settings", json={"return_urls": ["https://other.example.com/"]})
    landing = await browser.consent(consent)
    assert landing.status == 200 and not landing.returned
    assert "connected" in landing.html
    await browser.aclose()


async def test_another_projects_session_is_not_found(connect: Connect, other_tenant: Tenant) -> None:
    created = await connect.session()
    response = await other_tenant.client.get(f"/api/v1/connect_sessions/{created['id']}")
    assert response.status_code == 404
    # Nor may it use the first project's return URLs or OAuth apps.
    refused = await other_tenant.client.post("/api/v1/connect_sessions", json={"return_url": RETURN_URL})
    assert refused.status_code == 400


async def test_the_chooser_form_needs_its_csrf_token(connect: Connect) -> None:
    browser = Browser()
    created = await connect.session()
    page = await browser.get(created["url"])
    action = f"{connect.api_url}/connect/authorize"
    missing = await browser.post_form(action, [("platform", "google")])
    assert missing.status_code == 403
    token = page.html.split('name="csrf_token" value="')[1].split('"')[0]
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.test"}
    cross_site = await browser.client.post(action, content=f"csrf_token={token}&platform=google", headers=headers)
    assert cross_site.status_code == 403
    other = Browser()  # a token without the browser's cookie is worth nothing
    stolen = await other.post_form(action, [("csrf_token", token), ("platform", "google")])
    assert stolen.status_code == 403
    await browser.aclose()
    await other.aclose()


async def test_security_headers_and_no_third_party_content(connect: Connect) -> None:
    browser = Browser()
    created = await connect.session()
    response = await browser.client.get(created["url"], follow_redirects=True)
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"
    assert "cache-control" in response.headers and "no-store" in response.headers["cache-control"]
    assert "//" not in response.text.replace("<!doctype html>", "")  # every link is relative to this service
    await browser.aclose()


async def test_session_creation_is_rate_limited(connect: Connect, context: AppContext) -> None:
    context.settings.connect_session_rate_per_minute = 2
    await connect.session()
    await connect.session()
    response = await connect.tenant.client.post("/api/v1/connect_sessions", json={})
    assert response.status_code == 429 and "Retry-After" in response.headers


async def test_callbacks_are_rate_limited(connect: Connect, app: FastAPI) -> None:
    _connect_state(app).callback_limiter.per_minute = 3
    browser = Browser()
    statuses = [
        (await browser.client.get(f"{connect.api_url}/connect/callback/google?state=x{i}")).status_code
        for i in range(4)
    ]
    assert statuses == [400, 400, 400, 429]
    await browser.aclose()


async def test_no_secret_or_code_in_the_logs(connect: Connect, capsys: pytest.CaptureFixture[str]) -> None:
    browser = Browser()
    callback = await _callback_url(connect, browser)
    code = callback.split("code=")[1].split("&")[0]
    await browser.get(callback)
    await browser.get(callback)  # the replay is logged too
    account = await connect.control.get_account(connect.accounts["google"]["id"])
    output = capsys.readouterr()
    logged = output.out + output.err
    for secret in (code, GOOGLE_CLIENT[1], account["refresh_token"]):
        assert secret not in logged
    await browser.aclose()
