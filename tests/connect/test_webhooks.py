"""`connect_session.completed` and `connect_session.failed` are queued through the outbox when a session ends."""

from __future__ import annotations

from typing import Any

from tests.connect.support import Browser, Connect


async def _deliveries(connect: Connect, webhook_id: str) -> list[dict[str, Any]]:
    response = await connect.tenant.client.get(f"/api/v1/webhooks/{webhook_id}/deliveries")
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


async def test_the_application_hears_how_sessions_end(connect: Connect) -> None:
    created = await connect.tenant.client.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "triggers": ["connect_session.completed", "connect_session.failed"]},
    )
    assert created.status_code == 201, created.text
    webhook_id = created.json()["id"]

    browser = Browser()
    consent = await connect.run("google", browser, state="ok", deduplication_key="u1")
    landing = await browser.consent(consent)
    denied = await connect.run("microsoft", browser, state="no")
    await browser.consent(denied, allow=False)
    await browser.aclose()

    deliveries = {d["trigger"]: d for d in await _deliveries(connect, webhook_id)}
    assert set(deliveries) == {"connect_session.completed", "connect_session.failed"}
    completed = deliveries["connect_session.completed"]
    assert completed["calendar_id"] == landing.query["calendar_id"]
    assert completed["data"]["connect_session"]["status"] == "completed"
    assert completed["data"]["connect_session"]["state"] == "ok"
    failed = deliveries["connect_session.failed"]["data"]["connect_session"]
    assert (failed["status"], failed["error"], failed["state"]) == ("failed", "user_denied", "no")
