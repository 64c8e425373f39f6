"""A scripted browser for the hosted connect pages: follows redirects between calsync and the emulator, keeps
cookies, and stops at the application's return URL (never fetched)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

from calsync_emulator.client import EmulatorControl
from tests.support.service import Tenant

RETURN_URL = "https://app.example.com/connected"
GOOGLE_CLIENT = ("connect-app.apps.googleusercontent.com", "google-secret-1")
MICROSOFT_CLIENT = ("7f3c1c2e-0000-4000-8000-00000000c0de", "microsoft-secret-1")
GOOGLE_CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar.readonly"


@dataclass
class Landing:
    """Where the browser stopped: the return URL (with its query), or a page (status, html)."""

    url: str
    status: int
    html: str = ""

    @property
    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.url).query).items()}

    @property
    def returned(self) -> bool:
        return self.url.startswith(RETURN_URL)


@dataclass
class Browser:
    client: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(trust_env=False, timeout=30))

    async def follow(self, response: httpx.Response) -> Landing:
        while response.is_redirect:
            target = urljoin(str(response.url), response.headers["location"])
            if target.startswith(RETURN_URL):
                return Landing(target, response.status_code)
            response = await self.client.get(target)
        return Landing(str(response.url), response.status_code, response.text)

    async def get(self, url: str) -> Landing:
        return await self.follow(await self.client.get(url))

    async def choose(self, page: Landing, platform: str) -> Landing:
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.html)
        assert token is not None, page.html
        action = urljoin(page.url, "authorize")
        return await self.follow(
            await self.client.post(action, data={"csrf_token": token.group(1), "platform": platform})
        )

    async def consent(
        self, page: Landing, *, allow: bool = True, scopes: list[str] | None = None, account: str | None = None
    ) -> Landing:
        request_id = re.search(r'name=request value="([^"]+)"', page.html)
        assert request_id is not None, page.html
        offered = re.findall(r'name=scope value="([^"]+)"', page.html)
        first_account = re.search(r'name=account value="([^"]+)"', page.html)
        assert first_account is not None, page.html
        form: list[tuple[str, str]] = [
            ("request", request_id.group(1)),
            ("decision", "allow" if allow else "deny"),
            ("account", account or first_account.group(1)),
        ]
        form += [("scope", scope) for scope in (offered if scopes is None else scopes)]
        return await self.follow(await self.post_form(urljoin(page.url, "authorize/decide"), form))

    async def post_form(self, url: str, form: list[tuple[str, str]]) -> httpx.Response:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return await self.client.post(url, content=urlencode(form), headers=headers)

    async def aclose(self) -> None:
        await self.client.aclose()


@dataclass
class Connect:
    tenant: Tenant
    control: EmulatorControl
    api_url: str
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def redirect_uri(self, platform: str) -> str:
        return f"{self.api_url}/connect/callback/{platform}"

    async def configure(self, *, return_urls: list[str] | None = None) -> dict[str, Any]:
        response = await self.tenant.client.patch(
            "/api/v1/connect_settings",
            json={
                "google": {"client_id": GOOGLE_CLIENT[0], "client_secret": GOOGLE_CLIENT[1]},
                "microsoft": {"client_id": MICROSOFT_CLIENT[0], "client_secret": MICROSOFT_CLIENT[1]},
                "return_urls": return_urls or [RETURN_URL],
            },
        )
        assert response.status_code == 200, response.text
        for platform, (client_id, secret) in (("google", GOOGLE_CLIENT), ("microsoft", MICROSOFT_CLIENT)):
            await self.control.register_oauth_client(platform, client_id, secret, [self.redirect_uri(platform)])
            self.accounts[platform] = await self.control.create_account(
                platform, client_id=client_id, client_secret=secret, email=f"user@{platform}.example.com"
            )
        settings: dict[str, Any] = response.json()
        return settings

    async def session(self, **body: Any) -> dict[str, Any]:
        body.setdefault("return_url", RETURN_URL)
        response = await self.tenant.client.post("/api/v1/connect_sessions", json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def get_session(self, session_id: str) -> dict[str, Any]:
        response = await self.tenant.client.get(f"/api/v1/connect_sessions/{session_id}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def run(self, platform: str, browser: Browser, *, choose: bool = True, **session: Any) -> Landing:
        """A session through the chooser (or with the platform preset) to the consent page."""
        created = await self.session(**({} if choose else {"platform": platform}), **session)
        page = await browser.get(created["url"])
        if choose:
            assert page.status == 200 and "choose-google" in page.html, page.html
            page = await browser.choose(page, platform)
        assert page.status == 200 and "Allow" in page.html, page.html
        return page
