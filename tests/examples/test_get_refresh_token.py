"""examples/get_refresh_token.py: the consent URL carries PKCE and offline access, and the loopback redirect
yields the code only with the right state (real socket; the token exchange itself needs the real platform)."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import sys
import threading
import urllib.parse
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from tests.support.service import free_port

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "get_refresh_token.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("get_refresh_token", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["google", "microsoft"])
def test_authorization_url_asks_for_offline_access_with_pkce(name: str) -> None:
    script = load()
    platform = script.platform(name, "common")
    verifier, challenge = script.pkce_pair()
    url = script.authorization_url(platform, "client-1", "http://127.0.0.1:8765/", "state-1", challenge)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert query["code_challenge"] == expected and query["code_challenge_method"] == "S256"
    assert query["state"] == "state-1" and query["response_type"] == "code"
    if name == "google":
        assert query["access_type"] == "offline" and "calendar.readonly" in query["scope"]
    else:
        assert query["scope"].split()[0] == "offline_access"


def test_loopback_redirect_returns_the_code_for_the_right_state() -> None:
    script = load()
    port = free_port()
    codes: list[str] = []
    server = threading.Thread(target=lambda: codes.append(script.wait_for_code(port, "good")), daemon=True)
    server.start()
    for _ in range(100):
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/?state=good&code=abc", timeout=2)
            break
        except httpx.ConnectError:
            threading.Event().wait(0.02)  # the server thread is still binding
    server.join(timeout=5)
    assert response.status_code == 200 and codes == ["abc"]
