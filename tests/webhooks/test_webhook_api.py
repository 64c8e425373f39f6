"""`/api/v1/webhooks`, `/api/v1/webhook_secret` and the delivery log: CRUD, validation, isolation, retry."""

from __future__ import annotations

from typing import Any

import pytest

from calsync.context import AppContext
from calsync.webhooks.delivery_loop import WebhookDeliveryLoop
from calsync.webhooks.queries import MAX_WEBHOOKS_PER_PROJECT
from tests.support.service import Tenant
from tests.webhooks.support import create_calendar, create_webhook, enqueue, frozen, pump

URL = "https://hooks.example.com/calsync"


async def test_crud_round_trip(tenant: Tenant) -> None:
    created = await create_webhook(tenant, URL, triggers=["calendar.state_change"])
    assert created["id"].startswith("whk_") and created["url"] == URL
    assert created["triggers"] == ["calendar.state_change"] and created["is_active"] is True
    assert created["health"] == {
        "state": "healthy",
        "failing_since": None,
        "consecutive_failures": 0,
        "last_error": None,
        "last_failure_at": None,
        "last_success_at": None,
    }
    secret = created["signing_secret"]
    assert secret["id"].startswith("wsec_") and secret["secret_whsec"].startswith("whsec_")
    second = await create_webhook(tenant, URL + "/2")
    assert "signing_secret" not in second  # read once: only the first webhook creates (and shows) it

    listed = (await tenant.client.get("/api/v1/webhooks")).json()
    assert [w["id"] for w in listed["results"]] == [second["id"], created["id"]]
    assert listed["next"] is None and listed["previous"] is None

    patched = await tenant.client.patch(
        f"/api/v1/webhooks/{created['id']}", json={"is_active": False, "triggers": ["calendar.events_update"]}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["is_active"] is False and patched.json()["triggers"] == ["calendar.events_update"]
    assert (await tenant.client.get(f"/api/v1/webhooks/{created['id']}")).json()["is_active"] is False

    assert (await tenant.client.delete(f"/api/v1/webhooks/{created['id']}")).status_code == 200
    assert (await tenant.client.get(f"/api/v1/webhooks/{created['id']}")).status_code == 404
    assert [w["id"] for w in (await tenant.client.get("/api/v1/webhooks")).json()["results"]] == [second["id"]]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"url": "http://hooks.example.com/x"}, "url", "URL must use https"),
        ({"url": "https://169.254.169.254/latest"}, "url", "URL target not allowed"),
        ({"url": "https://user:pw@hooks.example.com/"}, "url", "URL must not contain credentials"),
        ({"url": "ftp://hooks.example.com/"}, "url", "URL must use https"),
        ({"url": ""}, "url", "This field may not be blank."),
        ({"url": None}, "url", "This field may not be null."),
        ({"triggers": []}, "triggers", "This list may not be empty."),
        ({"triggers": ["bot.joined_meeting"]}, "triggers", '"bot.joined_meeting" is not a valid choice.'),
        ({"triggers": "calendar.state_change"}, "triggers", "Expected a list"),
        ({"is_active": "yes"}, "is_active", "Must be a valid boolean."),
        ({"colour": "red"}, "non_field_errors", "Unexpected field(s): colour"),
    ],
)
async def test_create_validation(
    tenant: Tenant, context: AppContext, body: dict[str, Any], field: str, message: str
) -> None:
    # The defaults of a deployment: https only, public targets only.
    context.settings = context.settings.model_copy(
        update={"webhook_allow_http": False, "webhook_allow_private_targets": False}
    )
    request = {"url": URL, "triggers": ["calendar.events_update"], **body}
    response = await tenant.client.post("/api/v1/webhooks", json=request)
    assert response.status_code == 400, response.text
    assert any(m.startswith(message) for m in response.json()[field]), response.json()


async def test_http_and_private_targets_follow_the_settings(tenant: Tenant, context: AppContext) -> None:
    # This suite's settings allow both (the development and emulator mode).
    await create_webhook(tenant, "http://127.0.0.1:9/hook")
    context.settings = context.settings.model_copy(update={"webhook_allow_private_targets": False})
    response = await tenant.client.post(
        "/api/v1/webhooks", json={"url": "http://10.0.0.1/", "triggers": ["calendar.state_change"]}
    )
    assert response.status_code == 400 and "url" in response.json()


async def test_duplicate_url_limit_and_patch_validation(tenant: Tenant) -> None:
    first = await create_webhook(tenant, URL)
    duplicate = await tenant.client.post("/api/v1/webhooks", json={"url": URL, "triggers": ["calendar.state_change"]})
    assert duplicate.status_code == 400 and "already exists" in duplicate.json()["url"][0]
    other = await create_webhook(tenant, URL + "/other")
    clash = await tenant.client.patch(f"/api/v1/webhooks/{other['id']}", json={"url": URL})
    assert clash.status_code == 400 and "url" in clash.json()
    for body in ({"url": None}, {"triggers": None}, {"is_active": None}, {"triggers": ["nope"]}):
        response = await tenant.client.patch(f"/api/v1/webhooks/{first['id']}", json=body)
        assert response.status_code == 400, (body, response.text)
    for index in range(MAX_WEBHOOKS_PER_PROJECT - 2):
        await create_webhook(tenant, f"{URL}/{index}")
    too_many = await tenant.client.post(
        "/api/v1/webhooks", json={"url": URL + "/x", "triggers": ["calendar.state_change"]}
    )
    assert too_many.status_code == 400 and "at most" in too_many.json()["non_field_errors"][0]


async def test_projects_are_isolated(tenant: Tenant, other_tenant: Tenant, context: AppContext) -> None:
    frozen(context)
    hook = await create_webhook(tenant, URL)
    calendar = await create_calendar(tenant)
    await enqueue(context, calendar["id"])
    [delivery] = (await tenant.client.get(f"/api/v1/webhooks/{hook['id']}/deliveries")).json()["results"]
    secret_id = hook["signing_secret"]["id"]
    client = other_tenant.client
    assert (await client.get(f"/api/v1/webhooks/{hook['id']}")).status_code == 404
    assert (await client.patch(f"/api/v1/webhooks/{hook['id']}", json={"is_active": False})).status_code == 404
    assert (await client.delete(f"/api/v1/webhooks/{hook['id']}")).status_code == 404
    assert (await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries")).status_code == 404
    assert (await client.get(f"/api/v1/webhook_deliveries/{delivery['id']}")).status_code == 404
    assert (await client.post(f"/api/v1/webhook_deliveries/{delivery['id']}/retry")).status_code == 404
    assert (await client.delete(f"/api/v1/webhook_secret/{secret_id}")).status_code == 404
    assert (await client.get("/api/v1/webhooks")).json()["results"] == []
    assert (await client.get("/api/v1/webhook_secret")).json() == {"secrets": []}
    # The other project's webhook does not receive this project's calendar changes.
    await create_webhook(other_tenant, URL)
    assert await enqueue(context, calendar["id"]) == 1
    body = (await client.get("/api/v1/webhook_deliveries/whd_0000000000000000")).json()
    assert body == {"error": "Webhook delivery not found", "code": "not_found"}


async def test_secret_is_shown_once_and_rotation_keeps_the_previous_one_until_deleted(
    tenant: Tenant, context: AppContext
) -> None:
    clock = frozen(context)
    first = (await create_webhook(tenant, URL))["signing_secret"]
    listed = (await tenant.client.get("/api/v1/webhook_secret")).json()["secrets"]
    assert listed == [{k: first[k] for k in ("id", "fingerprint", "is_primary", "created_at", "expires_at")}]
    assert "secret" not in listed[0]

    clock.advance(seconds=1)
    rotated = await tenant.client.post("/api/v1/webhook_secret/rotate", json={"previous_expires_in_hours": 1})
    assert rotated.status_code == 201 and rotated.json()["secret"] != first["secret"]
    new = rotated.json()
    secrets = (await tenant.client.get("/api/v1/webhook_secret")).json()["secrets"]
    assert [(s["id"], s["is_primary"]) for s in secrets] == [(new["id"], True), (first["id"], False)]
    assert secrets[1]["expires_at"] is not None and secrets[0]["expires_at"] is None

    refused = await tenant.client.delete(f"/api/v1/webhook_secret/{new['id']}")
    assert refused.status_code == 409 and refused.json()["code"] == "newest_secret"
    assert (await tenant.client.delete(f"/api/v1/webhook_secret/{first['id']}")).status_code == 200
    assert [s["id"] for s in (await tenant.client.get("/api/v1/webhook_secret")).json()["secrets"]] == [new["id"]]

    # Without a body the previous secret keeps signing for 72 hours.
    clock.advance(seconds=1)
    third = (await tenant.client.post("/api/v1/webhook_secret/rotate")).json()
    secrets = (await tenant.client.get("/api/v1/webhook_secret")).json()["secrets"]
    assert [s["id"] for s in secrets] == [third["id"], new["id"]]
    clock.advance(hours=72, seconds=1)
    secrets = (await tenant.client.get("/api/v1/webhook_secret")).json()["secrets"]
    assert [s["id"] for s in secrets] == [third["id"]]


async def test_delivery_log_filters_pagination_and_retry(tenant: Tenant, context: AppContext) -> None:
    clock = frozen(context)
    hook = await create_webhook(tenant, "http://127.0.0.1:9/unreachable")
    first = await create_calendar(tenant)
    second = await create_calendar(tenant)
    for _ in range(20):
        await enqueue(context, first["id"])
        clock.advance(seconds=1)
    for _ in range(10):
        await enqueue(context, second["id"], trigger="calendar.state_change")
        clock.advance(seconds=1)
    base = f"/api/v1/webhooks/{hook['id']}/deliveries"

    async def walk(params: dict[str, str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        page = (await tenant.client.get(base, params=params)).json()
        for _ in range(10):
            rows.extend(page["results"])
            if not page["next"]:
                return rows
            page = (await tenant.client.get(page["next"])).json()
        raise AssertionError("pagination did not end")

    everything = await walk({})
    assert len(everything) == 30 and everything[0]["created_at"] > everything[-1]["created_at"]
    assert len({d["idempotency_key"] for d in everything}) == 30
    assert {d["calendar_id"] for d in await walk({"calendar_id": second["id"]})} == {second["id"]}
    assert len(await walk({"trigger": "calendar.state_change"})) == 10
    assert len(await walk({"trigger": "calendar.events_update", "calendar_id": first["id"]})) == 20
    assert len(await walk({"status": "pending"})) == 30
    bad = await tenant.client.get(base, params={"status": "lost"})
    assert bad.status_code == 400

    # Fail one delivery for good (nobody listens on port 9), then retry it by hand.
    context.settings = context.settings.model_copy(update={"webhook_retry_horizon_hours": 0.0})
    loop = WebhookDeliveryLoop(context)

    async def settled() -> bool:
        return len(await walk({"status": "failed"})) == 30

    await pump(context, loop, clock, settled)
    target = everything[-1]
    detail = (await tenant.client.get(f"/api/v1/webhook_deliveries/{target['id']}")).json()
    assert detail["status"] == "failed" and detail["attempts"] == 1
    [attempt] = detail["attempt_log"]
    assert attempt["status_code"] is None and attempt["error"].startswith("connection failed")

    retried = await tenant.client.post(f"/api/v1/webhook_deliveries/{target['id']}/retry")
    assert retried.status_code == 202 and retried.json()["status"] == "pending"
    assert retried.json()["next_attempt_at"] == clock.now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert [d["id"] for d in await walk({"status": "pending"})] == [target["id"]]
    context.settings = context.settings.model_copy(update={"webhook_retry_horizon_hours": 24.0})
    again = WebhookDeliveryLoop(context)
    assert await again.run_once() == 1
    await again.drain()
    detail = (await tenant.client.get(f"/api/v1/webhook_deliveries/{target['id']}")).json()
    assert detail["attempts"] == 2 and detail["idempotency_key"] == target["idempotency_key"]
    assert detail["status"] == "pending" and len(detail["attempt_log"]) == 2  # a fresh horizon: retried again
