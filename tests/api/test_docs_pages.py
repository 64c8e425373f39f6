"""The interactive docs (`/docs`, `/redoc`, the emulator's `/_emulator/docs`) load nothing from another origin:
every script, stylesheet and icon they name is served by the process itself."""

from __future__ import annotations

import re

import httpx
import pytest

from calsync_emulator.testing import running_emulator_async

ASSET = re.compile(r"""(?:src|href)\s*[=:]\s*['"]([^'"]+)['"]|url:\s*['"]([^'"]+)['"]""")


async def assets_of(client: httpx.AsyncClient, page: str) -> list[str]:
    response = await client.get(page)
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    urls = [a or b for a, b in ASSET.findall(response.text)]
    assert urls, "the page names its assets"
    return urls


async def check_all_local(client: httpx.AsyncClient, page: str) -> None:
    for url in await assets_of(client, page):
        assert url.startswith("/"), f"{page} loads {url} from another origin"
        served = await client.get(url)
        assert served.status_code == 200 and len(served.content) > 0, url


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_api_docs_pages_are_self_hosted(api_url: str, page: str) -> None:
    async with httpx.AsyncClient(base_url=api_url) as client:
        await check_all_local(client, page)
        html = (await client.get(page)).text
    assert "cdn.jsdelivr" not in html and "fonts.googleapis" not in html
    if page == "/docs":
        assert '"validatorUrl": null' in html, "no badge fetched from validator.swagger.io"


async def test_emulator_docs_page_is_self_hosted() -> None:
    async with running_emulator_async() as emulator, httpx.AsyncClient(base_url=emulator.base_url) as client:
        await check_all_local(client, "/_emulator/docs")
