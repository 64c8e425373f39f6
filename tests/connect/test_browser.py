"""The hosted connect flow in Debian's Chromium (Playwright), against calsync and the emulator on real sockets, on
both databases: connect on Google and Microsoft, deny, expire, reuse, and reconnecting an existing deduplication
key. The application's return URL is answered by the test itself; nothing else may leave 127.0.0.1.

Skipped without /usr/bin/chromium unless CALSYNC_REQUIRE_BROWSER=1 or CALSYNC_REQUIRE_POSTGRES=1 (as
tests/dashboard/test_browser.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Error as PlaywrightError

from calsync.context import AppContext
from tests.connect.support import GOOGLE_CLIENT, RETURN_URL, Connect
from tests.dashboard.test_browser import CHROMIUM_ARGS, chromium  # noqa: F401 (the fixture)

pytestmark = pytest.mark.timeout(240)

PLATFORM_BUTTONS = {"google": "Google Calendar", "microsoft": "Microsoft Outlook"}


@dataclass
class Tab:
    page: Any
    requests: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def returned(self) -> dict[str, str]:
        assert self.page.url.startswith(RETURN_URL), self.page.url
        return {k: v[0] for k, v in parse_qs(urlsplit(self.page.url).query).items()}


@pytest.fixture
async def tab(chromium: str, connect: Connect) -> AsyncIterator[Tab]:  # noqa: F811
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            # A phone's viewport: the pages must work there.
            context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")
            found = Tab(page=None)

            async def route(route: Any) -> None:
                url = route.request.url
                if url.startswith(RETURN_URL):
                    await route.fulfill(status=200, content_type="text/html", body="<p>back in the application</p>")
                elif urlsplit(url).hostname == "127.0.0.1":
                    await route.continue_()
                else:
                    found.refused.append(url)
                    await route.abort()

            await context.route("**/*", route)
            found.page = await context.new_page()
            # Every request, the redirects' too (a route sees only the first of a chain).
            found.page.on("request", lambda request: found.requests.append(request.url))
            found.page.set_default_timeout(15_000)
            yield found
            assert found.refused == []
            await context.close()
        finally:
            await browser.close()


async def _to_consent(tab: Tab, connect: Connect, platform: str, **session: Any) -> dict[str, Any]:
    created = await connect.session(**session)
    await tab.page.goto(created["url"])
    await tab.page.get_by_role("heading", name="Connect your calendar").wait_for()
    # With the keyboard: focus the platform's button and press Enter.
    await tab.page.get_by_role("button", name=PLATFORM_BUTTONS[platform]).focus()
    await tab.page.keyboard.press("Enter")
    await tab.page.wait_for_url(lambda url: "/connect/" not in url)
    await tab.page.get_by_role("button", name="Allow").wait_for()
    return created


@pytest.mark.parametrize("platform", ["google", "microsoft"])
async def test_connect(tab: Tab, connect: Connect, platform: str) -> None:
    created = await _to_consent(tab, connect, platform, state="st", metadata={"user": "1"})
    await tab.page.get_by_role("button", name="Allow").click()
    await tab.page.wait_for_url(f"{RETURN_URL}*")
    answer = tab.returned()
    assert answer["state"] == "st"
    found = await connect.get_session(created["id"])
    assert (found["status"], found["calendar_id"], found["platform"]) == ("completed", answer["calendar_id"], platform)
    calendar = (await connect.tenant.client.get(f"/api/v1/calendars/{answer['calendar_id']}")).json()
    assert calendar["platform"] == platform and calendar["metadata"] == {"user": "1"}


@pytest.mark.parametrize("platform", ["google", "microsoft"])
async def test_deny(tab: Tab, connect: Connect, platform: str) -> None:
    await _to_consent(tab, connect, platform, state="st")
    await tab.page.get_by_role("button", name="Deny").click()
    await tab.page.wait_for_url(f"{RETURN_URL}*")
    assert tab.returned() == {"error": "user_denied", "state": "st"}


async def test_expire(tab: Tab, connect: Connect, context: AppContext) -> None:
    await _to_consent(tab, connect, "google", state="st")
    real_clock = context.clock
    context.clock = lambda: real_clock() + timedelta(minutes=20)
    try:
        await tab.page.get_by_role("button", name="Allow").click()
        await tab.page.wait_for_url(f"{RETURN_URL}*")
    finally:
        context.clock = real_clock
    assert tab.returned() == {"error": "session_expired", "state": "st"}


async def test_reuse(tab: Tab, connect: Connect) -> None:
    created = await _to_consent(tab, connect, "microsoft", state="st")
    await tab.page.get_by_role("button", name="Allow").click()
    await tab.page.wait_for_url(f"{RETURN_URL}*")
    assert "calendar_id" in tab.returned()
    callback = next(url for url in tab.requests if "/connect/callback/microsoft?" in url)
    for again in (callback, created["url"]):  # the callback again (back button, a reload), and the session's link
        tab.requests.clear()
        # Where a typed-in URL redirects to is not routed (so not answered) by Chromium: the request log tells.
        with contextlib.suppress(PlaywrightError):
            await tab.page.goto(again)
        returned = [url for url in tab.requests if url.startswith(RETURN_URL)]
        assert returned == [f"{RETURN_URL}?error=session_already_used&state=st"], tab.requests
    assert len((await connect.tenant.client.get("/api/v1/calendars")).json()["results"]) == 1


async def test_reconnect_an_existing_deduplication_key(tab: Tab, connect: Connect) -> None:
    account = connect.accounts["google"]
    existing = await connect.tenant.client.post(
        "/api/v1/calendars",
        json={
            "platform": "google",
            "client_id": GOOGLE_CLIENT[0],
            "client_secret": GOOGLE_CLIENT[1],
            "refresh_token": account["refresh_token"],
            "deduplication_key": "user-9",
        },
    )
    assert existing.status_code == 201, existing.text
    await _to_consent(tab, connect, "google", deduplication_key="user-9")
    await tab.page.get_by_role("button", name="Allow").click()
    await tab.page.wait_for_url(f"{RETURN_URL}*")
    assert tab.returned()["calendar_id"] == existing.json()["id"]
    assert len((await connect.tenant.client.get("/api/v1/calendars")).json()["results"]) == 1
