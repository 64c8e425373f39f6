"""The interactive docs render in a real browser with no network: Debian's Chromium (Playwright), every request
that is not to 127.0.0.1 aborted and recorded. Fails (not skips) in CI without Chromium, like the dashboard's."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from calsync_emulator.testing import running_emulator_async
from tests.dashboard.test_browser import CHROMIUM_ARGS, chromium  # noqa: F401 (the session fixture)

pytestmark = pytest.mark.timeout(120)


async def render(chromium_path: str, url: str, ready_selector: str) -> tuple[str, list[str]]:
    from playwright.async_api import async_playwright

    outside: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context()

            async def only_local(route: Any) -> None:
                host = urlsplit(route.request.url).hostname
                if host == "127.0.0.1" or route.request.url.startswith("data:"):
                    await route.continue_()
                else:
                    outside.append(route.request.url)
                    await route.abort()

            await context.route("**/*", only_local)
            page = await context.new_page()
            await page.goto(url)
            await page.wait_for_selector(ready_selector, timeout=30_000)
            text = await page.inner_text(ready_selector)
        finally:
            await browser.close()
    return text, outside


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_api_docs_render_offline(chromium: str, api_url: str) -> None:  # noqa: F811
    title, outside = await render(chromium, f"{api_url}/docs", ".swagger-ui .info .title")
    assert "calsync" in title
    assert outside == [], "the docs page asked for something outside this machine"


async def test_emulator_docs_render_offline(chromium: str) -> None:  # noqa: F811
    async with running_emulator_async() as emulator:
        title, outside = await render(chromium, f"{emulator.base_url}/_emulator/docs", ".swagger-ui .info .title")
    assert "emulator" in title
    assert outside == []
