"""Overrides over HTTP on both databases: a meeting's (`PUT /api/v1/meetings/{id}/bot_override`) and a recurring
series' (`PUT /api/v1/calendar_events/{id}/series_bot_override`), their precedence, explanation and errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from calsync.context import AppContext
from calsync_emulator.client import EmulatorControl
from tests.bots.support import tomorrow
from tests.meetings.support import all_meetings, calendar, create_rule, events_of, get, invite, live_bots
from tests.support.service import Tenant


async def put(tenant: Tenant, path: str, value: Any) -> tuple[int, dict[str, Any]]:
    response = await tenant.client.put(path, json={"bot_override": value})
    return response.status_code, response.json()


async def test_a_meeting_override_wins_over_the_rules(
    control: EmulatorControl, context: AppContext, tenant: Tenant, other_tenant: Tenant
) -> None:
    cal = await calendar(control, tenant, "ada@acme.test")
    await invite(control, cal, tomorrow())
    await cal.sync(context)
    [meeting] = await all_meetings(tenant)
    assert meeting["bot"] is None
    # `always` without any rule: a bot.
    status, body = await put(tenant, f"/api/v1/meetings/{meeting['id']}/bot_override", "always")
    assert status == 200 and body["bot_override"] == "always"
    assert body["decision"] == {"bot": True, "rule_id": None, "override": "always", "reasons": []}
    [bot] = await live_bots(tenant)
    assert body["bot"]["id"] == bot["id"] and bot["rule_id"] is None and bot["meeting_id"] == meeting["id"]
    # `never` with a rule that selects it: the bot is cancelled, the rule reported as overridden.
    rule = await create_rule(tenant)
    status, body = await put(tenant, f"/api/v1/meetings/{meeting['id']}/bot_override", "never")
    assert status == 200 and body["bot"] is None
    assert body["decision"] == {
        "bot": False,
        "rule_id": None,
        "override": "never",
        "reasons": [{"rule_id": rule["id"], "code": "overridden"}],
    }
    cancelled = await get(tenant, f"/api/v1/bots/{bot['id']}")
    assert cancelled["state"] == "cancelled" and cancelled["state_reason"]["code"] == "bot_override_never"
    # null: the rules decide again, and the same bot comes back for the rule.
    status, body = await put(tenant, f"/api/v1/meetings/{meeting['id']}/bot_override", None)
    assert status == 200 and body["bot_override"] is None and body["decision"]["rule_id"] == rule["id"]
    assert body["bot"]["id"] == bot["id"] and body["bot"]["rule_id"] == rule["id"]
    # Errors: clear JSON, scoped to the project.
    status, body = await put(other_tenant, f"/api/v1/meetings/{meeting['id']}/bot_override", "never")
    assert (status, body) == (404, {"error": "Meeting not found", "code": "not_found"})
    status, body = await put(tenant, f"/api/v1/meetings/{meeting['id']}/bot_override", "sometimes")
    assert status == 400 and "bot_override" in body
    response = await tenant.client.put(f"/api/v1/meetings/{meeting['id']}/bot_override", json={})
    assert response.status_code == 400 and "bot_override" in response.json()


async def test_a_series_override_covers_every_instance_now_and_later(
    control: EmulatorControl, context: AppContext, tenant: Tenant, other_tenant: Tenant
) -> None:
    await create_rule(tenant)
    start = tomorrow()
    cal = await calendar(control, tenant, "ada@acme.test")
    series = await invite(control, cal, start, uid="daily@x", recurrence=["RRULE:FREQ=DAILY;COUNT=3"])
    single = await invite(control, cal, start + timedelta(hours=5), uid="single@x")
    await cal.sync(context)
    assert len(await live_bots(tenant)) == 4
    events = await events_of(tenant, cal)
    instance = next(e for e in events if e["recurring_event_id"])
    status, body = await put(tenant, f"/api/v1/calendar_events/{instance['id']}/series_bot_override", "never")
    assert status == 200 and body == {
        "calendar_id": cal.id,
        "recurring_event_id": instance["recurring_event_id"],
        "bot_override": "never",
        "meetings": 3,
    }
    [left] = await live_bots(tenant)
    assert left["calendar_event_id"] == next(e["id"] for e in events if e["platform_uuid"] == single["id"])
    meetings = await all_meetings(tenant)
    assert sorted(m["decision"]["override"] or "" for m in meetings) == ["", "never", "never", "never"]
    assert all(m["bot_override"] is None for m in meetings), "the meeting's own override is not set"
    # A new instance syncs in: the series' override holds for it too.
    await control.update_event(cal.platform_calendar_id, series["id"], recurrence=["RRULE:FREQ=DAILY;COUNT=4"])
    await cal.sync(context)
    assert len(await live_bots(tenant)) == 1
    assert len(await all_meetings(tenant)) == 5
    # A meeting's own override wins over its series'.
    first = next(m for m in await all_meetings(tenant) if m["decision"]["override"] == "never")
    status, body = await put(tenant, f"/api/v1/meetings/{first['id']}/bot_override", "always")
    assert status == 200 and body["bot"] is not None and body["decision"]["override"] == "always"
    # Cleared: the rules decide for the series again.
    status, body = await put(tenant, f"/api/v1/calendar_events/{instance['id']}/series_bot_override", None)
    assert status == 200 and body["bot_override"] is None
    assert len(await live_bots(tenant)) == 5
    # Errors.
    single_event = next(e for e in events if e["platform_uuid"] == single["id"])
    status, body = await put(tenant, f"/api/v1/calendar_events/{single_event['id']}/series_bot_override", "never")
    assert status == 400 and body["code"] == "not_recurring"
    status, body = await put(other_tenant, f"/api/v1/calendar_events/{instance['id']}/series_bot_override", "never")
    assert (status, body) == (404, {"error": "Calendar event not found", "code": "not_found"})
