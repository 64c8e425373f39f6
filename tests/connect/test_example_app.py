"""examples/connect_app.py against calsync and the emulator: a user connects, and a forged return is refused."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.connect.support import Browser, Connect
from tests.support.service import free_port

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "connect_app.py"


@pytest.fixture(scope="module")
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("connect_app", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["connect_app"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example_url(example: ModuleType, connect: Connect) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = example.App(connect.api_url, connect.tenant.api_key, url, "google")
    server = example.serve(app, "127.0.0.1", port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    server.server_close()


async def test_the_example_application(connect: Connect, example_url: str) -> None:
    allowed = await connect.tenant.client.patch(
        "/api/v1/connect_settings", json={"return_urls": [f"{example_url}/connected"]}
    )
    assert allowed.status_code == 200, allowed.text
    browser = Browser()
    consent = await browser.get(f"{example_url}/connect?user=alice")
    assert "Allow" in consent.html
    landing = await browser.consent(consent)
    assert landing.url.startswith(f"{example_url}/connected?")
    assert "Connected calendar cal_" in landing.html and "for alice" in landing.html
    calendars = (await connect.tenant.client.get("/api/v1/calendars")).json()["results"]
    assert [c["deduplication_key"] for c in calendars] == ["user-alice"]

    forged = await Browser().get(f"{example_url}/connected?calendar_id=cal_x&state=guess")
    assert "not started here" in forged.html
    await browser.aclose()
