"""Push: Google watch channels and Graph subscriptions, delivered to a local receiver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.emulator.conftest import google_token, ms_token


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


async def _watch(emulator, http, headers, receiver, channel_id: str, **extra):
    body = {
        "id": channel_id,
        "type": "web_hook",
        "address": f"{receiver.base_url}/google/{channel_id}",
        "token": "target=calsync",
        **extra,
    }
    return await http.post(f"{emulator.google_api_url}/calendars/primary/events/watch", headers=headers, json=body)


async def test_google_watch_sync_then_exists_then_stop(emulator, control, http, receiver):
    account = await control.create_account("google")
    cal = account["primary_calendar_id"]
    headers = await google_token(http, emulator, account)
    response = await _watch(emulator, http, headers, receiver, "chan-1")
    assert response.status_code == 200
    channel = response.json()
    assert channel["kind"] == "api#channel" and channel["id"] == "chan-1" and channel["token"] == "target=calsync"
    assert channel["resourceId"] and channel["resourceUri"].endswith("/events?alt=json")
    assert int(channel["expiration"]) > 0  # epoch milliseconds, as a string

    path = "/google/chan-1"
    sync = (await receiver.wait_for(lambda r: len([x for x in r if x.path == path]) >= 1))[0]
    assert sync.method == "POST" and sync.body == b""
    assert sync.headers["x-goog-resource-state"] == "sync"
    assert sync.headers["x-goog-message-number"] == "1"
    assert sync.headers["x-goog-channel-id"] == "chan-1"
    assert sync.headers["x-goog-channel-token"] == "target=calsync"
    assert sync.headers["x-goog-resource-id"] == channel["resourceId"]
    assert sync.headers["x-goog-resource-uri"] == channel["resourceUri"]
    assert sync.headers["x-goog-channel-expiration"].endswith(" GMT")
    assert sync.headers["user-agent"].startswith("APIs-Google")

    await control.create_event(cal, "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z")
    await receiver.wait_for(lambda r: len([x for x in r if x.path == path]) >= 2)
    await control.create_event(cal, "2026-03-03T09:00:00Z", "2026-03-03T10:00:00Z")
    got = await receiver.wait_for(lambda r: len([x for x in r if x.path == path]) >= 3)
    numbers = [int(x.headers["x-goog-message-number"]) for x in got if x.path == path]
    assert [x.headers["x-goog-resource-state"] for x in got if x.path == path] == ["sync", "exists", "exists"]
    assert numbers[0] < numbers[1] < numbers[2]
    assert numbers[1] - numbers[0] > 1 and numbers[2] - numbers[1] > 1

    wrong = await http.post(
        f"{emulator.google_api_url}/channels/stop", headers=headers, json={"id": "chan-1", "resourceId": "other"}
    )
    assert wrong.status_code == 404
    stop = await http.post(
        f"{emulator.google_api_url}/channels/stop",
        headers=headers,
        json={"id": "chan-1", "resourceId": channel["resourceId"]},
    )
    assert stop.status_code == 204
    await control.create_event(cal, "2026-03-04T09:00:00Z", "2026-03-04T10:00:00Z")
    assert await control.wait_notifications(5)
    assert len(receiver.requests_to(path)) == 3


async def test_google_channel_expiry_and_duplicate_ids(emulator, control, http, receiver):
    account = await control.create_account("google")
    headers = await google_token(http, emulator, account)
    now = await control.now()
    expiration = int((now + timedelta(seconds=120)).timestamp() * 1000)
    response = await _watch(emulator, http, headers, receiver, "chan-exp", expiration=expiration)
    assert response.json()["expiration"] == str(expiration)
    duplicate = await _watch(emulator, http, headers, receiver, "chan-exp")
    assert duplicate.status_code == 400
    await receiver.wait_for(lambda r: len(r) >= 1)
    await control.advance(121)
    await control.create_event(account["primary_calendar_id"], "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z")
    assert await control.wait_notifications(5)
    assert len(receiver.requests_to("/google/chan-exp")) == 1  # only the sync message
    # ttl is capped at the configured maximum (7 days by default)
    capped = await _watch(emulator, http, headers, receiver, "chan-ttl", params={"ttl": str(30 * 86400)})
    now = await control.now()
    assert int(capped.json()["expiration"]) <= (now + timedelta(days=7, seconds=1)).timestamp() * 1000


async def _subscribe(emulator, http, headers, receiver, *, lifecycle: bool = True, minutes: int = 60, **extra):
    now = datetime.now(UTC)
    body = {
        "changeType": "created,updated,deleted",
        "notificationUrl": f"{receiver.base_url}/graph/notify",
        "resource": "me/events",
        "expirationDateTime": _iso(now + timedelta(minutes=minutes)),
        "clientState": "s3cret",
        **extra,
    }
    if lifecycle:
        body["lifecycleNotificationUrl"] = f"{receiver.base_url}/graph/lifecycle"
    return await http.post(f"{emulator.graph_url}/subscriptions", headers=headers, json=body)


async def test_graph_subscription_handshake_and_notifications(emulator, control, http, receiver):
    account = await control.create_account("microsoft")
    cal = account["primary_calendar_id"]
    headers = await ms_token(http, emulator, account)
    response = await _subscribe(emulator, http, headers, receiver)
    assert response.status_code == 201, response.text
    sub = response.json()
    assert sub["clientState"] == "s3cret" and sub["resource"] == "me/events"
    assert sub["applicationId"] == account["client_id"] and sub["creatorId"] == account["user_id"]
    handshakes = [r for r in receiver.received if "validationToken" in r.query]
    assert {r.path for r in handshakes} == {"/graph/notify", "/graph/lifecycle"}
    assert all(r.headers["content-type"].startswith("text/plain") for r in handshakes)
    assert all(" " in r.query["validationToken"] for r in handshakes)  # needs URL-decoding by the receiver

    a = await control.create_event(cal, "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z")
    got = await receiver.wait_for(lambda r: any(x.path == "/graph/notify" and x.body for x in r))
    first = next(x for x in got if x.path == "/graph/notify" and x.body).json()["value"]
    assert len(first) == 1
    item = first[0]
    assert item["subscriptionId"] == sub["id"] and item["clientState"] == "s3cret"
    assert item["changeType"] == "created" and item["resourceData"]["id"] == a["id"]
    assert item["resource"] == f"Users/{account['user_id']}/Events/{a['id']}"
    assert item["resourceData"]["@odata.type"] == "#Microsoft.Graph.Event" and item["tenantId"]

    # a series deletion in one call arrives as one batched body
    series = await control.create_event(
        cal, "2026-03-02T12:00:00Z", "2026-03-02T13:00:00Z", recurrence=["RRULE:FREQ=DAILY;COUNT=2"]
    )
    await control.update_event(cal, f"{series['id']}_20260303T120000Z", summary="exception")
    await control.delete_event(cal, series["id"])
    got = await receiver.wait_for(
        lambda r: any(
            x.body and any(i["changeType"] == "deleted" for i in x.json()["value"])
            for x in r
            if x.path == "/graph/notify"
        )
    )
    batch = next(
        x
        for x in got
        if x.path == "/graph/notify" and x.body and any(i["changeType"] == "deleted" for i in x.json()["value"])
    ).json()["value"]
    assert {i["resourceData"]["id"] for i in batch} == {series["id"], f"{series['id']}_20260303T120000Z"}


@pytest.mark.parametrize("mode", ["wrong", "encoded", "json", "slow"])
async def test_graph_subscription_validation_failures(emulator, control, http, receiver, mode):
    account = await control.create_account("microsoft")
    headers = await ms_token(http, emulator, account)
    receiver.validation = mode
    if mode == "slow":
        await control.set_config(graph_validation_timeout_seconds=0.3)
        receiver.slow_seconds = 1.0
    response = await _subscribe(emulator, http, headers, receiver, lifecycle=False)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ValidationError"
    assert await control.subscriptions() == []


async def test_graph_subscription_expiry_rules_renew_delete(emulator, control, http, receiver):
    account = await control.create_account("microsoft")
    headers = await ms_token(http, emulator, account)
    too_long = await _subscribe(emulator, http, headers, receiver, minutes=10081)
    assert too_long.status_code == 400
    await control.set_config(graph_subscription_max_minutes=4230)
    assert (await _subscribe(emulator, http, headers, receiver, minutes=4300)).status_code == 400
    short = await _subscribe(emulator, http, headers, receiver, minutes=5)
    assert short.status_code == 201
    sub = short.json()
    raised = datetime.fromisoformat(sub["expirationDateTime"].replace("0Z", "+00:00"))
    assert raised - datetime.now(UTC) > timedelta(minutes=44)  # under 45 minutes is raised to 45
    renewed = await http.patch(
        f"{emulator.graph_url}/subscriptions/{sub['id']}",
        headers=headers,
        json={"expirationDateTime": _iso(datetime.now(UTC) + timedelta(days=2))},
    )
    assert renewed.status_code == 200 and renewed.json()["expirationDateTime"] != sub["expirationDateTime"]
    reauth = await http.post(f"{emulator.graph_url}/subscriptions/{sub['id']}/reauthorize", headers=headers)
    assert reauth.status_code == 204
    deleted = await http.delete(f"{emulator.graph_url}/subscriptions/{sub['id']}", headers=headers)
    assert deleted.status_code == 204
    again = await http.delete(f"{emulator.graph_url}/subscriptions/{sub['id']}", headers=headers)
    assert again.status_code == 404


async def test_graph_lifecycle_notifications_and_expiry(emulator, control, http, receiver):
    account = await control.create_account("microsoft")
    headers = await ms_token(http, emulator, account)
    sub = (await _subscribe(emulator, http, headers, receiver)).json()
    for event in ("reauthorizationRequired", "missed", "subscriptionRemoved"):
        await control.send_lifecycle(sub["id"], event)
    got = await receiver.wait_for(lambda r: len([x for x in r if x.path == "/graph/lifecycle" and x.body]) >= 3)
    events = [x.json()["value"][0] for x in got if x.path == "/graph/lifecycle" and x.body]
    assert [e["lifecycleEvent"] for e in events] == ["reauthorizationRequired", "missed", "subscriptionRemoved"]
    assert all(e["subscriptionId"] == sub["id"] and e["clientState"] == "s3cret" for e in events)
    assert await control.subscriptions() == []  # subscriptionRemoved removes it

    # an expired subscription stops notifying and is gone
    sub = (await _subscribe(emulator, http, headers, receiver)).json()
    await control.advance(3700)
    await control.create_event(account["primary_calendar_id"], "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z")
    assert await control.wait_notifications(5)
    assert not [x for x in receiver.requests_to("/graph/notify") if x.body]
    assert (
        await http.get(
            f"{emulator.graph_url}/subscriptions/{sub['id']}", headers=await ms_token(http, emulator, account)
        )
    ).status_code == 404


async def test_dropped_notifications_fault(emulator, control, http, receiver):
    account = await control.create_account("google")
    headers = await google_token(http, emulator, account)
    await _watch(emulator, http, headers, receiver, "chan-drop")
    await receiver.wait_for(lambda r: len(r) >= 1)
    await control.add_fault("drop_notifications", account_id=account["id"], count=1)
    await control.create_event(account["primary_calendar_id"], "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z")
    assert await control.wait_notifications(5)
    assert len(receiver.requests_to("/google/chan-drop")) == 1
    log = await control.notifications(account["id"])
    assert log[-1]["dropped"] is True
    await control.create_event(account["primary_calendar_id"], "2026-03-03T09:00:00Z", "2026-03-03T10:00:00Z")
    await receiver.wait_for(lambda r: len([x for x in r if x.path == "/google/chan-drop"]) >= 2)


async def test_failed_delivery_is_recorded_not_raised(emulator, control, http, receiver):
    account = await control.create_account("google")
    headers = await google_token(http, emulator, account)
    body = {"id": "chan-dead", "type": "web_hook", "address": "http://127.0.0.1:9/nothing-listens"}
    assert (
        await http.post(f"{emulator.google_api_url}/calendars/primary/events/watch", headers=headers, json=body)
    ).status_code == 200
    assert await control.wait_notifications(10)
    record = (await control.notifications(account["id"]))[-1]
    assert record["status"] is None and "ClientConnectorError" in record["error"]


async def test_push_copy_notifies_the_copy_as_its_own_channel(emulator, control, http, receiver):
    google_a, google_b = await control.create_account("google"), await control.create_account("google")
    watched = (await _watch(emulator, http, await google_token(http, emulator, google_a), receiver, "chan-a")).json()
    ms_a, ms_b = await control.create_account("microsoft"), await control.create_account("microsoft")
    assert (await _subscribe(emulator, http, await ms_token(http, emulator, ms_a), receiver)).status_code == 201

    made = await control.push_copy(
        [
            {"calendar_id": google_a["primary_calendar_id"], "to_calendar_id": google_b["primary_calendar_id"], "id": "chan-b"},
            {"calendar_id": ms_a["primary_calendar_id"], "to_calendar_id": ms_b["primary_calendar_id"], "id": "sub-b"},
        ]
    )  # fmt: skip
    assert [(m["kind"], m["id"]) for m in made] == [("channel", "chan-b"), ("subscription", "sub-b")]
    assert made[0]["resource_id"] != watched["resourceId"]

    await control.create_event(google_b["primary_calendar_id"], "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z")
    event = await control.create_event(ms_b["primary_calendar_id"], "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z")
    got = await receiver.wait_for(
        lambda r: (
            any(x.headers.get("x-goog-channel-id") == "chan-b" for x in r)
            and any(x.path == "/graph/notify" and x.body for x in r)
        )
    )
    google = next(x for x in got if x.headers.get("x-goog-channel-id") == "chan-b")
    assert google.path == "/google/chan-a" and google.headers["x-goog-channel-token"] == "target=calsync"
    assert google.headers["x-goog-resource-id"] == made[0]["resource_id"]
    [item] = next(x for x in got if x.path == "/graph/notify" and x.body).json()["value"]
    assert item["subscriptionId"] == "sub-b" and item["clientState"] == "s3cret"
    assert item["resourceData"]["id"] == event["id"] and ms_b["user_id"] in item["resource"]
    assert not [x for x in receiver.received if x.headers.get("x-goog-channel-id") == "chan-a" and x.headers.get("x-goog-resource-state") == "exists"]  # fmt: skip
