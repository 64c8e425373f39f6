"""Unknown routes and methods answer in each platform's envelope under the platform prefixes; the control
API keeps FastAPI's `{"detail": …}`. And `python -m calsync_emulator --tls` serves https with a CA it prints."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time

import httpx

from tests.support.service import free_port


async def test_google_unknown_route_and_method(emulator, http):
    missing = await http.get(f"{emulator.google_api_url}/nothing/here")
    assert missing.status_code == 404
    assert missing.json()["error"]["errors"][0] == {"domain": "global", "reason": "notFound", "message": "Not Found"}
    method = await http.delete(f"{emulator.google_api_url}/calendars/primary/events/x")
    assert method.status_code == 405 and method.json()["error"]["code"] == 405


async def test_graph_unknown_segment_and_method(emulator, http):
    missing = await http.get(f"{emulator.graph_url}/me/calendars/AAMk123/nothing")
    assert missing.status_code == 400
    error = missing.json()["error"]
    assert error["code"] == "BadRequest" and error["message"] == "Resource not found for the segment 'nothing'."
    assert {"request-id", "date", "client-request-id"} <= error["innerError"].keys()
    # an id with an encoded "/" matches no route, yet every segment is known: an unknown item, not a segment
    slashed = await http.get(f"{emulator.graph_url}/me/events/nope%23%2F%3F")
    assert slashed.status_code == 404 and slashed.json()["error"]["code"] == "ErrorItemNotFound"
    method = await http.put(f"{emulator.graph_url}/me")
    assert method.status_code == 405 and method.json()["error"]["code"] == "BadRequest"


async def test_entra_token_endpoint_get_and_unknown_path(emulator, http):
    get = await http.get(f"{emulator.microsoft_login_url}/common/oauth2/v2.0/token")
    assert get.status_code == 400 and get.json()["error_codes"] == [900561]
    other = await http.get(f"{emulator.microsoft_login_url}/common/oauth2/v2.0/nothing")
    assert other.status_code == 404 and other.json()["error"] == "invalid_request"


async def test_control_api_keeps_its_own_errors(emulator, http):
    response = await http.get(f"{emulator.base_url}/_emulator/nothing")
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}


async def test_discovery_document_follows_the_request_host(emulator, http):
    config = (
        await http.get(f"{emulator.microsoft_login_url}/organizations/v2.0/.well-known/openid-configuration")
    ).json()
    assert config["token_endpoint"] == f"{emulator.microsoft_login_url}/organizations/oauth2/v2.0/token"
    assert config["issuer"] == f"{emulator.microsoft_login_url}/{{tenantid}}/v2.0"
    keys = (await http.get(config["jwks_uri"])).json()["keys"]
    assert [k["kty"] for k in keys] == ["RSA"] and keys[0]["alg"] == "RS256"


def test_module_entry_point_serves_https_with_a_printed_ca(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "calsync_emulator", "--port", str(port), "--tls", "--tls-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline(), process.stdout.readline()]
        assert banner[0].strip() == f"calsync emulator on https://127.0.0.1:{port}"
        ca = banner[1].strip().rsplit(" ", 1)[1]
        assert ca == str(tmp_path / "ca.pem")
        context = ssl.create_default_context(cafile=ca)
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"https://127.0.0.1:{port}/_emulator/health", verify=context, trust_env=False)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "the emulator did not start"
                time.sleep(0.1)
        assert response.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
