"""`/api/v1/bots` over HTTP: every validation rule and message, Attendee's where it has one, on both databases."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event as sa_event

from calsync.context import AppContext
from calsync_emulator.client import EmulatorControl
from tests.bots.support import (
    MEET,
    another_event,
    at,
    create_bot,
    get_bot,
    meeting,
    tomorrow,
)
from tests.support.driver_statements import driver_statements
from tests.support.service import Tenant
from tests.sync.conftest import sync_once

ATTENDEE_MEETING_URL = (
    "meeting_url should not be provided when calendar_event_id is specified. "
    "The meeting URL will be taken from the calendar event."
)
ATTENDEE_JOIN_AT = (
    "join_at should not be provided when calendar_event_id is specified. "
    "The join time will be taken from the calendar event."
)
ATTENDEE_DUPLICATE = (
    "Deduplication key already in use. A bot in a non-terminal state with this deduplication key already exists. "
    "Please use a different deduplication key or wait for that bot to terminate."
)


async def post(tenant: Tenant, **body: Any) -> tuple[int, dict[str, Any]]:
    response = await tenant.client.post("/api/v1/bots", json=body)
    return response.status_code, response.json()


async def patch(tenant: Tenant, bot_id: str, **body: Any) -> tuple[int, dict[str, Any]]:
    response = await tenant.client.patch(f"/api/v1/bots/{bot_id}", json=body)
    return response.status_code, response.json()


def error(message: str, code: str) -> dict[str, str]:
    return {"error": message, "code": code}


async def test_a_bot_created_from_an_event_takes_its_time_and_link(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    start = tomorrow()
    event = await meeting(control, tenant, context, start)
    bot = await create_bot(
        tenant,
        calendar_event_id=event.event_id,
        bot_name="Note taker",
        metadata={"team": "core"},
        deduplication_key=event.event_id,
        join_offset_seconds=-60,
        dispatch_lead_seconds=300,
    )
    assert re.fullmatch(r"bot_[A-Za-z0-9]{16}", bot["id"])
    assert bot["state"] == "scheduled" and bot["state_reason"] is None and bot["dispatched_at"] is None
    assert bot["meeting_url"] == MEET
    assert at(bot["join_at"]) == start - timedelta(minutes=1)
    assert at(bot["dispatch_at"]) == start - timedelta(minutes=6)
    assert (bot["calendar_event_id"], bot["calendar_id"]) == (event.event_id, event.calendar_id)
    assert (bot["bot_name"], bot["metadata"], bot["deduplication_key"]) == (
        "Note taker",
        {"team": "core"},
        event.event_id,
    )
    assert (bot["join_offset_seconds"], bot["dispatch_lead_seconds"]) == (-60, 300)
    assert bot["created_at"] == bot["updated_at"]
    assert await get_bot(tenant, bot["id"]) == bot

    defaults = await create_bot(tenant, calendar_event_id=event.event_id)
    assert at(defaults["join_at"]) == start and at(defaults["dispatch_at"]) == start - timedelta(seconds=120)
    assert defaults["bot_name"] is None and defaults["join_offset_seconds"] == 0


async def test_attendee_errors_for_bots_of_calendar_events(
    control: EmulatorControl, context: AppContext, tenant: Tenant, other_tenant: Tenant
) -> None:
    event = await meeting(control, tenant, context, tomorrow())
    foreign = await meeting(control, other_tenant, context, tomorrow())
    for unknown in ("evt_doesnotexist00000", foreign.event_id):
        assert await post(tenant, calendar_event_id=unknown) == (
            400,
            error(f"Calendar event with id {unknown} does not exist in this project.", "calendar_event_not_found"),
        )
    # As Attendee: the event is looked up first, then the fields that conflict with it.
    assert await post(tenant, calendar_event_id="evt_x", meeting_url=MEET) == (
        400,
        error("Calendar event with id evt_x does not exist in this project.", "calendar_event_not_found"),
    )
    assert await post(tenant, calendar_event_id=event.event_id, meeting_url=MEET) == (
        400,
        error(ATTENDEE_MEETING_URL, "meeting_url_with_calendar_event"),
    )
    join_at = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    assert await post(tenant, calendar_event_id=event.event_id, join_at=join_at) == (
        400,
        error(ATTENDEE_JOIN_AT, "join_at_with_calendar_event"),
    )


async def test_events_a_bot_cannot_follow(control: EmulatorControl, context: AppContext, tenant: Tenant) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    linkless = await meeting(control, tenant, context, tomorrow(), meeting_url=None)
    status, body = await post(tenant, calendar_event_id=linkless.event_id)
    assert (status, body["code"]) == (400, "calendar_event_without_meeting_url")
    assert body["error"] == f"Calendar event with id {linkless.event_id} has no meeting URL."

    started = await meeting(control, tenant, context, now - timedelta(minutes=10), minutes=60)
    status, body = await post(tenant, calendar_event_id=started.event_id)
    assert (status, body["code"]) == (400, "calendar_event_started")
    assert body["error"] == f"Calendar event with id {started.event_id} has already started."
    # Joining after the start is fine while that join time is still ahead.
    late = await create_bot(tenant, calendar_event_id=started.event_id, join_offset_seconds=1800)
    assert at(late["join_at"]) == now + timedelta(minutes=20)

    deleted = await meeting(control, tenant, context, tomorrow())
    await control.delete_event(deleted.platform_calendar_id, deleted.platform_event_id)
    await deleted.sync(context)
    status, body = await post(tenant, calendar_event_id=deleted.event_id)
    assert (status, body["code"]) == (400, "calendar_event_deleted")

    disconnected = await meeting(control, tenant, context, tomorrow())
    await control.revoke_grant(disconnected.account["id"])
    await control.expire_access_tokens(disconnected.account["id"])
    await disconnected.sync(context)
    status, body = await post(tenant, calendar_event_id=disconnected.event_id)
    assert (status, body["code"]) == (400, "calendar_disconnected")
    assert disconnected.calendar_id in body["error"]


async def test_bots_without_an_event(context: AppContext, tenant: Tenant) -> None:
    assert await post(tenant, bot_name="x") == (400, {"meeting_url": ["This field is required."]})
    assert await post(tenant, meeting_url="https://example.com/not-a-meeting") == (
        400,
        {"meeting_url": ["Invalid meeting URL"]},
    )
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    assert await post(tenant, meeting_url=MEET, join_at=past) == (400, {"join_at": ["join_at cannot be in the past"]})
    status, body = await post(tenant, meeting_url=MEET, join_offset_seconds=60)
    assert (status, body["code"]) == (400, "join_offset_without_event")

    join_at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    later = await create_bot(tenant, meeting_url=MEET, join_at=join_at.isoformat().replace("+00:00", "Z"))
    assert at(later["join_at"]) == join_at and at(later["dispatch_at"]) == join_at - timedelta(minutes=2)
    assert later["calendar_event_id"] is None and later["calendar_id"] is None
    # A meeting link is normalised as the sync normalises events' links (wrappers and entities removed).
    wrapped = "https://meet.google.com/abc-defg-hij?authuser=0&amp;hs=1"
    assert (await create_bot(tenant, meeting_url=wrapped))["meeting_url"] == (
        "https://meet.google.com/abc-defg-hij?authuser=0&hs=1"
    )
    now = await create_bot(tenant, meeting_url=MEET)
    assert at(now["join_at"]) <= context.clock() and at(now["dispatch_at"]) < at(now["join_at"])  # due at once


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"dispatch_lead_seconds": 3601}, "dispatch_lead_seconds", "Ensure this value is less than or equal to 3600."),
        ({"dispatch_lead_seconds": -1}, "dispatch_lead_seconds", "Ensure this value is greater than or equal to 0."),
        ({"dispatch_lead_seconds": "soon"}, "dispatch_lead_seconds", "A valid integer is required."),
        ({"dispatch_lead_seconds": True}, "dispatch_lead_seconds", "A valid integer is required."),
        ({"dispatch_lead_seconds": None}, "dispatch_lead_seconds", "This field may not be null."),
        ({"join_offset_seconds": 86401}, "join_offset_seconds", "Ensure this value is less than or equal to 86400."),
        ({"join_at": "tomorrow"}, "join_at", "Datetime has wrong format."),
        ({"join_at": None}, "join_at", "This field may not be null."),
        ({"meeting_url": ""}, "meeting_url", "This field may not be blank."),
        ({"bot_name": "x" * 256}, "bot_name", "Ensure this field has no more than 255 characters."),
        ({"bot_name": None}, "bot_name", "This field may not be null."),
        ({"metadata": {"a": 1}}, "metadata", "Value for key 'a' must be a string"),
        ({"metadata": []}, "metadata", "Metadata must be an object not an array or other type"),
        ({"deduplication_key": " "}, "deduplication_key", "This field may not be blank."),
        ({"calendar_event_id": None}, "calendar_event_id", "This field may not be null."),
        ({"colour": "red"}, "non_field_errors", "Unexpected field(s): colour. Allowed fields are: bot_name"),
    ],
)
async def test_field_validation(tenant: Tenant, body: dict[str, Any], field: str, message: str) -> None:
    status, errors = await post(tenant, **{"meeting_url": MEET, **body})
    assert status == 400 and list(errors) == [field], errors
    assert errors[field][0].startswith(message)


async def test_deduplication_keys_are_unique_among_live_bots(
    control: EmulatorControl, context: AppContext, tenant: Tenant, other_tenant: Tenant
) -> None:
    event = await meeting(control, tenant, context, tomorrow())
    first = await create_bot(tenant, calendar_event_id=event.event_id, deduplication_key="k")
    assert await post(tenant, calendar_event_id=event.event_id, deduplication_key="k") == (
        400,
        error(ATTENDEE_DUPLICATE, "deduplication_key_in_use"),
    )
    assert await post(tenant, meeting_url=MEET, deduplication_key="k") == (
        400,
        error(ATTENDEE_DUPLICATE, "deduplication_key_in_use"),
    )
    await create_bot(other_tenant, meeting_url=MEET, deduplication_key="k")  # another project's keys are its own
    assert (await tenant.client.delete(f"/api/v1/bots/{first['id']}")).json()["state"] == "cancelled"
    second = await create_bot(tenant, calendar_event_id=event.event_id, deduplication_key="k")
    # A bot that failed frees its key too: the event loses its link.
    await control.update_event(event.platform_calendar_id, event.platform_event_id, meeting_url="")
    await event.sync(context)
    assert (await get_bot(tenant, second["id"]))["state"] == "failed"
    third = await create_bot(tenant, meeting_url=MEET, deduplication_key="k")
    listed = (await tenant.client.get("/api/v1/bots", params={"deduplication_key": "k"})).json()["results"]
    assert [b["id"] for b in listed] == [third["id"], second["id"], first["id"]]


async def test_patch(control: EmulatorControl, context: AppContext, tenant: Tenant) -> None:
    start = tomorrow()
    event = await meeting(control, tenant, context, start)
    bot = await create_bot(tenant, calendar_event_id=event.event_id, metadata={"a": "b"})
    for name, value in (("join_at", (start + timedelta(hours=1)).isoformat()), ("meeting_url", MEET)):
        status, body = await patch(tenant, bot["id"], **{name: value})
        assert (status, body["code"]) == (400, "follows_calendar_event") and name in body["error"]

    status, body = await patch(tenant, bot["id"], bot_name="Recorder", metadata=None)
    assert status == 200 and (body["bot_name"], body["metadata"]) == ("Recorder", None)
    assert body["updated_at"] > bot["updated_at"] and body["join_at"] == bot["join_at"]
    status, body = await patch(tenant, bot["id"], join_offset_seconds=-300, dispatch_lead_seconds=600)
    assert status == 200
    assert at(body["join_at"]) == start - timedelta(minutes=5)
    assert at(body["dispatch_at"]) == start - timedelta(minutes=15)
    assert await patch(tenant, bot["id"], bot_name=None) == (400, {"bot_name": ["This field may not be null."]})
    status, body = await patch(tenant, bot["id"], join_offset_seconds=-(2 * 86400))
    assert status == 400 and list(body) == ["join_offset_seconds"]

    standalone = await create_bot(tenant, meeting_url=MEET, join_at=(start + timedelta(hours=5)).isoformat())
    status, body = await patch(tenant, standalone["id"], join_offset_seconds=60)
    assert (status, body["code"]) == (400, "join_offset_without_event")
    status, body = await patch(tenant, standalone["id"], join_at=(start + timedelta(hours=6)).isoformat())
    assert status == 200 and at(body["join_at"]) == start + timedelta(hours=6)
    status, body = await patch(tenant, standalone["id"], meeting_url="https://zoom.us/j/123456789")
    assert status == 200 and body["meeting_url"] == "https://zoom.us/j/123456789"
    assert await patch(tenant, standalone["id"], meeting_url="https://example.com/") == (
        400,
        {"meeting_url": ["Invalid meeting URL"]},
    )
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    assert await patch(tenant, standalone["id"], join_at=past) == (400, {"join_at": ["join_at cannot be in the past"]})

    await tenant.client.delete(f"/api/v1/bots/{standalone['id']}")
    status, body = await patch(tenant, standalone["id"], dispatch_lead_seconds=10)
    assert (status, body["code"]) == (400, "bot_ended")
    assert (await patch(tenant, standalone["id"], bot_name="kept"))[1]["bot_name"] == "kept"

    # An offset that would put the join time and the start both in the past is refused.
    now = datetime.now(UTC).replace(microsecond=0)
    running = await meeting(control, tenant, context, now - timedelta(minutes=10), minutes=60)
    late = await create_bot(tenant, calendar_event_id=running.event_id, join_offset_seconds=1800)
    status, body = await patch(tenant, late["id"], join_offset_seconds=0)
    assert (status, body["code"]) == (400, "too_late")
    assert (await patch(tenant, "bot_doesnotexist00000", bot_name="x"))[0] == 404


async def test_read_list_and_scope(
    control: EmulatorControl, context: AppContext, tenant: Tenant, other_tenant: Tenant
) -> None:
    start = tomorrow()
    event = await meeting(control, tenant, context, start)
    second_event = await another_event(
        control, context, tenant, event, start + timedelta(hours=2), meeting_url="https://zoom.us/j/987654321"
    )
    first = await create_bot(tenant, calendar_event_id=event.event_id)
    second = await create_bot(tenant, calendar_event_id=second_event)
    standalone = await create_bot(tenant, meeting_url=MEET, join_at=(start + timedelta(hours=5)).isoformat())
    cancelled = await create_bot(tenant, meeting_url=MEET, join_at=(start + timedelta(hours=1)).isoformat())
    await tenant.client.delete(f"/api/v1/bots/{cancelled['id']}")

    async def ids(**params: str) -> list[str]:
        response = await tenant.client.get("/api/v1/bots", params=params)
        assert response.status_code == 200, response.text
        return [bot["id"] for bot in response.json()["results"]]

    assert await ids() == [cancelled["id"], standalone["id"], second["id"], first["id"]]
    assert await ids(ordering="join_at") == [first["id"], cancelled["id"], second["id"], standalone["id"]]
    assert await ids(ordering="-join_at") == [standalone["id"], second["id"], cancelled["id"], first["id"]]
    assert await ids(state="cancelled") == [cancelled["id"]]
    assert await ids(calendar_id=event.calendar_id) == [second["id"], first["id"]]
    assert await ids(calendar_event_id=second_event) == [second["id"]]
    window = {
        "join_at_gte": (start + timedelta(hours=1)).isoformat(),
        "join_at_lte": (start + timedelta(hours=2)).isoformat(),
    }
    assert await ids(**window, ordering="join_at") == [cancelled["id"], second["id"]]
    assert (await tenant.client.get("/api/v1/bots", params={"state": "joined"})).status_code == 400
    response = await tenant.client.get("/api/v1/bots", params={"join_at_gte": "soon"})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_datetime")
    response = await tenant.client.get("/api/v1/bots", params={"ordering": "bot_name"})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_ordering")

    # Cursor pages (25 per page), forwards and backwards.
    for index in range(30):
        await create_bot(tenant, meeting_url=MEET, join_at=(start + timedelta(minutes=index)).isoformat())
    page = (await tenant.client.get("/api/v1/bots", params={"ordering": "join_at"})).json()
    walked = [bot["id"] for bot in page["results"]]
    assert len(walked) == 25 and page["previous"] is None
    following = (await tenant.client.get(page["next"])).json()
    walked += [bot["id"] for bot in following["results"]]
    assert len(walked) == 34 == len(set(walked)) and following["next"] is None
    back = (await tenant.client.get(following["previous"])).json()
    assert [bot["id"] for bot in back["results"]] == walked[:25]

    assert (await other_tenant.client.get(f"/api/v1/bots/{first['id']}")).status_code == 404
    assert (await other_tenant.client.delete(f"/api/v1/bots/{first['id']}")).json() == {
        "error": "Bot not found",
        "code": "not_found",
    }
    assert (await other_tenant.client.get("/api/v1/bots")).json()["results"] == []


async def test_events_list_their_bots_in_every_state_with_one_query_per_page(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    start = tomorrow()
    event = await meeting(control, tenant, context, start)
    for index in range(5):
        await control.create_event(
            event.platform_calendar_id, start + timedelta(hours=index + 1), start + timedelta(hours=index + 2)
        )
    await sync_once(context, event.calendar_id)
    kept = await create_bot(tenant, calendar_event_id=event.event_id)
    cancelled = await create_bot(tenant, calendar_event_id=event.event_id)
    await tenant.client.delete(f"/api/v1/bots/{cancelled['id']}")

    statements: list[str] = []
    on_driver: list[tuple[str, Any]] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    engine = context.db.read_engine.sync_engine
    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        with driver_statements(on_driver):  # PostgreSQL reads a plain page in one statement on the driver
            page = (
                await tenant.client.get("/api/v1/calendar_events", params={"calendar_id": event.calendar_id})
            ).json()
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
    statements += [statement for statement, _ in on_driver]
    assert len(page["results"]) == 6
    bots = {row["id"]: [bot["id"] for bot in row["bots"]] for row in page["results"]}
    assert bots.pop(event.event_id) == [kept["id"], cancelled["id"]]
    assert set(map(tuple, bots.values())) == {()}
    assert sum(("FROM bots" in statement or "JOIN bots" in statement) for statement in statements) == 1

    one = (await tenant.client.get(f"/api/v1/calendar_events/{event.event_id}")).json()
    assert [bot["state"] for bot in one["bots"]] == ["scheduled", "cancelled"]
    assert one["bots"][0] == await get_bot(tenant, kept["id"])
