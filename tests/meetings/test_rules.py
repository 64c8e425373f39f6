"""Bot rules over HTTP on both databases, against the emulator: one bot per meeting across calendars and
platforms, bots that follow membership (declines, removals, moves, recurring instances), priority, rule changes
and deletion, and the explanation (`decision`) in each case."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from calsync.context import AppContext
from calsync.meetings.loop import evaluate_all
from calsync_emulator.client import EmulatorControl
from tests.bots.support import tomorrow
from tests.meetings.support import (
    OTHER_MEET,
    Cal,
    all_meetings,
    calendar,
    create_rule,
    default_guests,
    events_of,
    get,
    invite,
    live_bots,
)
from tests.support.service import Tenant


async def three_calendars(control: EmulatorControl, tenant: Tenant) -> list[Cal]:
    return [
        await calendar(control, tenant, "ada@acme.test"),
        await calendar(control, tenant, "bob@acme.test", platform="microsoft"),
        await calendar(control, tenant, "cy@contoso.test"),
    ]


async def only_meeting(tenant: Tenant) -> dict[str, Any]:
    [meeting] = await all_meetings(tenant)
    return meeting


async def bot(tenant: Tenant, bot_id: str) -> dict[str, Any]:
    return await get(tenant, f"/api/v1/bots/{bot_id}")


def declined_by(email: str) -> list[dict[str, Any]]:
    return [{**guest, "response": "declined"} if guest["email"] == email else guest for guest in default_guests()]


async def test_one_bot_for_a_meeting_on_three_calendars_follows_declines_and_removals(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    rule = await create_rule(tenant, bot_name="Notes", metadata={"team": "sales"}, join_offset_seconds=-60)
    start = tomorrow()
    cals = await three_calendars(control, tenant)
    copies = []
    for cal in cals:
        copies.append(await invite(control, cal, start))
        await cal.sync(context)
    [live] = await live_bots(tenant)
    meeting = await only_meeting(tenant)
    assert meeting["bot"] == live and len(meeting["events"]) == 3
    assert meeting["decision"] == {"bot": True, "rule_id": rule["id"], "override": None, "reasons": []}
    assert live["rule_id"] == rule["id"] and live["meeting_id"] == meeting["id"]
    assert live["bot_name"] == "Notes" and live["metadata"] == {"team": "sales"}
    assert live["join_at"] == (start - timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # The bot sits on the first member (Ada's copy); Ada declines: the same bot moves onto another member.
    assert live["calendar_id"] == cals[0].id
    await control.update_event(cals[0].platform_calendar_id, copies[0]["id"], attendees=declined_by("ada@acme.test"))
    await cals[0].sync(context)
    [moved] = await live_bots(tenant)
    assert moved["id"] == live["id"] and moved["calendar_id"] != cals[0].id and moved["state"] == "scheduled"
    meeting = await only_meeting(tenant)
    assert {e["calendar_id"]: e["response_status"] for e in meeting["events"]}[cals[0].id] == "declined"
    assert meeting["decision"]["bot"] is True and meeting["bot"]["id"] == live["id"]
    # Bob is removed from the invitation (his copy goes): the bot stays with Cy's copy.
    await control.delete_event(cals[1].platform_calendar_id, copies[1]["id"])
    await cals[1].sync(context)
    [kept] = await live_bots(tenant)
    assert kept["id"] == live["id"] and kept["calendar_id"] == cals[2].id
    assert len((await only_meeting(tenant))["events"]) == 2
    # Cy declines too: no member matches any more; the bot is cancelled, and the meeting says why.
    await control.update_event(cals[2].platform_calendar_id, copies[2]["id"], attendees=declined_by("cy@contoso.test"))
    await cals[2].sync(context)
    assert await live_bots(tenant) == []
    cancelled = await bot(tenant, live["id"])
    assert cancelled["state"] == "cancelled" and cancelled["state_reason"]["code"] == "meeting_not_selected"
    meeting = await only_meeting(tenant)
    assert meeting["bot"] is None
    assert meeting["decision"] == {
        "bot": False,
        "rule_id": None,
        "override": None,
        "reasons": [{"rule_id": rule["id"], "code": "declined"}],
    }
    # Cy accepts again: the same bot comes back.
    await control.update_event(cals[2].platform_calendar_id, copies[2]["id"], attendees=default_guests())
    await cals[2].sync(context)
    [back] = await live_bots(tenant)
    assert back["id"] == live["id"] and back["state_reason"]["code"] == "meeting_selected"


async def test_the_organizer_moves_the_meeting(control: EmulatorControl, context: AppContext, tenant: Tenant) -> None:
    await create_rule(tenant)
    start, later = tomorrow(), tomorrow() + timedelta(hours=3)
    solo = await calendar(control, tenant, "ada@acme.test")
    created = await invite(control, solo, start)
    await solo.sync(context)
    [first] = await live_bots(tenant)
    # On one calendar the bot goes with its event: same id, new time, the old meeting gone.
    await control.update_event(
        solo.platform_calendar_id,
        created["id"],
        start=later.isoformat(),
        end=(later + timedelta(minutes=30)).isoformat(),
    )
    await solo.sync(context)
    [moved] = await live_bots(tenant)
    assert moved["id"] == first["id"] and moved["join_at"].startswith(later.strftime("%Y-%m-%dT%H:%M"))
    meeting = await only_meeting(tenant)
    assert meeting["start_time"].startswith(later.strftime("%Y-%m-%dT%H:%M")) and meeting["bot"]["id"] == first["id"]

    # On two calendars synced one after the other, the copies meet again at the new time: one live bot at the end.
    bob = await calendar(control, tenant, "bob@acme.test", platform="microsoft")
    cy = await calendar(control, tenant, "cy@contoso.test")
    other_start = start + timedelta(days=1)
    copies = [await invite(control, cal, other_start, uid="weekly@x") for cal in (bob, cy)]
    await bob.sync(context)
    await cy.sync(context)
    assert len(await live_bots(tenant)) == 2
    moved_to = other_start + timedelta(hours=1)
    for cal, copy in zip((bob, cy), copies, strict=True):
        await control.update_event(
            cal.platform_calendar_id,
            copy["id"],
            start=moved_to.isoformat(),
            end=(moved_to + timedelta(minutes=30)).isoformat(),
        )
        await cal.sync(context)
    bots = await live_bots(tenant)
    assert len(bots) == 2, "one for each meeting"
    meetings = await all_meetings(tenant)
    assert len(meetings) == 2 and all(m["bot"] is not None for m in meetings)
    [weekly] = [m for m in meetings if m["ical_uid"] == "weekly@x"]
    assert len(weekly["events"]) == 2 and weekly["start_time"].startswith(moved_to.strftime("%Y-%m-%dT%H:%M"))


async def test_a_recurring_series_with_a_moved_and_a_cancelled_instance(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    rule = await create_rule(tenant)
    start = tomorrow()
    cal = await calendar(control, tenant, "ada@acme.test")
    await invite(control, cal, start, uid="daily@x", recurrence=["RRULE:FREQ=DAILY;COUNT=3"])
    await cal.sync(context)
    events = await events_of(tenant, cal)
    assert len(events) == 3 and len({e["meeting_id"] for e in events}) == 3, "instances are separate meetings"
    bots = {b["calendar_event_id"]: b for b in await live_bots(tenant)}
    assert set(bots) == {e["id"] for e in events}
    first, second, third = events
    moved_to = start + timedelta(days=1, hours=2)
    await control.update_event(
        cal.platform_calendar_id,
        second["platform_uuid"],
        start=moved_to.isoformat(),
        end=(moved_to + timedelta(minutes=30)).isoformat(),
    )
    await control.cancel_event(cal.platform_calendar_id, third["platform_uuid"])
    await cal.sync(context)
    assert (await bot(tenant, bots[third["id"]]["id"]))["state"] == "cancelled"
    live = {b["id"]: b for b in await live_bots(tenant)}
    assert set(live) == {bots[first["id"]]["id"], bots[second["id"]]["id"]}
    assert live[bots[second["id"]]["id"]]["join_at"].startswith(moved_to.strftime("%Y-%m-%dT%H:%M"))
    meetings = await all_meetings(tenant)
    assert len(meetings) == 2 and all(m["decision"]["rule_id"] == rule["id"] for m in meetings)


async def test_priority_rule_changes_and_deletion(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    low = await create_rule(tenant, name="All", bot_name="Low")
    high = await create_rule(tenant, name="Reviews", priority=10, title_include=["review"], bot_name="High")
    start = tomorrow()
    cal = await calendar(control, tenant, "ada@acme.test")
    await invite(control, cal, start)
    await cal.sync(context)
    [live] = await live_bots(tenant)
    meeting = await only_meeting(tenant)
    assert live["rule_id"] == high["id"] and live["bot_name"] == "High"
    assert meeting["decision"]["reasons"] == [{"rule_id": low["id"], "code": "lower_priority"}]
    # The winning rule stops matching: the same bot now serves the meeting for the other rule.
    response = await tenant.client.patch(f"/api/v1/bot_rules/{high['id']}", json={"title_include": ["standup"]})
    assert response.status_code == 200, response.text
    assert response.json()["evaluation"]["meetings_total"] == 1
    await evaluate_all(context)
    assert (await get(tenant, f"/api/v1/bot_rules/{high['id']}"))["evaluation"] == {
        "state": "done",
        "meetings_total": 1,
        "meetings_done": 1,
    }
    [same] = await live_bots(tenant)
    assert same["id"] == live["id"] and same["rule_id"] == low["id"] and same["bot_name"] == "Low"
    meeting = await only_meeting(tenant)
    assert meeting["decision"] == {
        "bot": True,
        "rule_id": low["id"],
        "override": None,
        "reasons": [{"rule_id": high["id"], "code": "title_not_included"}],
    }
    # Deactivated, then deleted: no rule selects the meeting; its bot is cancelled with the reason.
    response = await tenant.client.patch(f"/api/v1/bot_rules/{low['id']}", json={"is_active": False})
    assert response.status_code == 200 and response.json()["is_active"] is False
    await evaluate_all(context)
    assert await live_bots(tenant) == []
    assert (await bot(tenant, live["id"]))["state_reason"]["code"] == "meeting_not_selected"
    response = await tenant.client.delete(f"/api/v1/bot_rules/{high['id']}")
    assert response.status_code == 200 and response.json()["id"] == high["id"]
    await evaluate_all(context)
    assert (await tenant.client.get(f"/api/v1/bot_rules/{high['id']}")).status_code == 404
    meeting = await only_meeting(tenant)
    assert meeting["decision"] == {"bot": False, "rule_id": None, "override": None, "reasons": []}
    # Re-activated: the same bot comes back.
    await tenant.client.patch(f"/api/v1/bot_rules/{low['id']}", json={"is_active": True})
    await evaluate_all(context)
    [back] = await live_bots(tenant)
    assert back["id"] == live["id"]


async def test_selection_fields_and_their_reasons(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    ada = await calendar(control, tenant, "ada@acme.test", metadata={"tenant_id": "1"})
    bob = await calendar(control, tenant, "bob@acme.test", platform="microsoft")
    rules = {
        "external": await create_rule(tenant, event_selection="external"),
        "internal": await create_rule(tenant, event_selection="internal"),
        "own": await create_rule(tenant, event_selection="own_events"),
        "participant": await create_rule(tenant, event_selection="participant_only"),
        "small": await create_rule(tenant, participants_lte=2),
        "big": await create_rule(tenant, participants_gte=3),
        "accepted": await create_rule(tenant, response="accepted"),
        "title": await create_rule(tenant, title_exclude=["1:1"]),
        "scope": await create_rule(tenant, calendar_ids=[bob.id]),
        "metadata": await create_rule(tenant, calendar_metadata={"tenant_id": "1"}),
        "all_day": await create_rule(tenant),
    }
    start = tomorrow()
    internal = [
        {"email": "ada@acme.test", "response": "accepted"},
        {"email": "bob@acme.test", "response": "needsAction"},
    ]
    # Ada organizes an internal 1:1 with Bob, on both calendars.
    for cal in (ada, bob):
        await invite(
            control, cal, start, uid="one@x", attendees=internal, summary="1:1 Ada/Bob", organizer="ada@acme.test"
        )
    # An all-day event with a link.
    await control.create_event(
        ada.platform_calendar_id,
        start.date().isoformat(),
        (start + timedelta(days=1)).date().isoformat(),
        summary="Offsite",
        meeting_url="https://meet.google.com/all-dayy-xyz",
    )
    await ada.sync(context)
    await bob.sync(context)
    meetings = {m["name"]: m for m in await all_meetings(tenant)}
    reasons = {r["rule_id"]: r["code"] for r in meetings["1:1 Ada/Bob"]["decision"]["reasons"]}
    codes = {name: reasons.get(rule["id"]) for name, rule in rules.items()}
    winner = meetings["1:1 Ada/Bob"]["decision"]["rule_id"]
    matched = {name for name, rule in rules.items() if rule["id"] == winner or codes[name] == "lower_priority"}
    assert codes["external"] == "not_external"
    assert codes["big"] == "too_few_participants"
    assert codes["title"] == "title_excluded"
    # Bob has not answered (needs action), Ada organizes: `accepted` matches on Ada's copy.
    assert matched >= {"internal", "own", "participant", "small", "accepted", "scope", "metadata", "all_day"}
    offsite = meetings["Offsite"]["decision"]
    assert offsite["bot"] is False
    assert {r["rule_id"]: r["code"] for r in offsite["reasons"]}[rules["all_day"]["id"]] == "all_day"
    assert {r["rule_id"]: r["code"] for r in offsite["reasons"]}[rules["scope"]["id"]] == "calendar_out_of_scope"


async def test_rule_errors_are_clear_and_scoped(
    control: EmulatorControl, context: AppContext, tenant: Tenant, other_tenant: Tenant
) -> None:
    async def post(**body: Any) -> tuple[int, Any]:
        response = await tenant.client.post("/api/v1/bot_rules", json=body)
        return response.status_code, response.json()

    assert await post() == (400, {"name": ["This field is required."]})
    assert await post(name="x", calendar_ids=["cal_0000000000000000"]) == (
        400,
        {
            "error": "Calendar with id cal_0000000000000000 does not exist in this project.",
            "code": "calendar_not_found",
        },
    )
    status, body = await post(name="x", participants_gte=5, participants_lte=2)
    assert status == 400 and body["code"] == "participants_range"
    status, body = await post(name="x", event_selection="everyone")
    assert status == 400 and "event_selection" in body
    status, body = await post(name="x", priority=None)
    assert (status, body) == (400, {"priority": ["This field may not be null."]})
    status, body = await post(name="x", colour="red")
    assert status == 400
    rule = await create_rule(tenant)
    assert rule["id"].startswith("rul_") and rule["event_selection"] == "all" and rule["response"] == "not_declined"
    assert (await other_tenant.client.get(f"/api/v1/bot_rules/{rule['id']}")).status_code == 404
    assert (await other_tenant.client.patch(f"/api/v1/bot_rules/{rule['id']}", json={"priority": 1})).status_code == 404
    assert (await other_tenant.client.delete(f"/api/v1/bot_rules/{rule['id']}")).status_code == 404
    assert (await other_tenant.client.get("/api/v1/bot_rules")).json()["results"] == []
    response = await tenant.client.get("/api/v1/bot_rules/rul_nope")
    assert response.status_code == 404 and response.json() == {"error": "Bot rule not found", "code": "not_found"}
    assert [r["id"] for r in (await get(tenant, "/api/v1/bot_rules"))["results"]] == [rule["id"]]


async def one_meeting_on_two_calendars(control: EmulatorControl, context: AppContext, tenant: Tenant) -> list[Cal]:
    """Ada's (Google) and Bob's (Microsoft) copies of one invitation tomorrow, synced and evaluated."""
    cals = [
        await calendar(control, tenant, "ada@acme.test"),
        await calendar(control, tenant, "bob@acme.test", platform="microsoft"),
    ]
    for cal in cals:
        await invite(control, cal, tomorrow())
        await cal.sync(context)
    return cals


async def test_calendar_deleted_and_bot_deleted_by_request(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    await create_rule(tenant)
    ada, bob = await one_meeting_on_two_calendars(control, context, tenant)
    solo = await calendar(control, tenant, "solo@acme.test")
    await invite(control, solo, tomorrow(), uid="solo@acme.test", meeting_url=OTHER_MEET)
    await solo.sync(context)
    first, alone = sorted(await live_bots(tenant), key=lambda b: b["calendar_id"] == solo.id)
    # The calendar the bot sits on is deleted: Bob's copy remains, so the meeting keeps the same bot, moved there.
    on, other = (ada, bob) if first["calendar_id"] == ada.id else (bob, ada)
    assert (await tenant.client.delete(f"/api/v1/calendars/{on.id}")).status_code == 200
    await evaluate_all(context)
    [moved, still_alone] = sorted(await live_bots(tenant), key=lambda b: b["calendar_id"] == solo.id)
    assert moved["id"] == first["id"] and moved["calendar_id"] == other.id and moved["state"] == "scheduled"
    meeting = next(m for m in await all_meetings(tenant) if m["bot"]["id"] == first["id"])
    assert [e["calendar_id"] for e in meeting["events"]] == [other.id]
    # A meeting with no copy elsewhere: its bot is cancelled with the calendar, for good.
    assert (await tenant.client.delete(f"/api/v1/calendars/{solo.id}")).status_code == 200
    await evaluate_all(context)
    assert [b["id"] for b in await live_bots(tenant)] == [first["id"]]
    assert (await bot(tenant, alone["id"]))["state_reason"]["code"] == "calendar_deleted"
    assert still_alone["id"] == alone["id"]
    # The application cancels the rule's bot: the rules do not bring it back (an `always` override would).
    assert (await tenant.client.delete(f"/api/v1/bots/{first['id']}")).status_code == 200
    await other.sync(context)
    response = await tenant.client.patch(f"/api/v1/bot_rules/{meeting['decision']['rule_id']}", json={"priority": 3})
    assert response.status_code == 200
    await evaluate_all(context)
    assert await live_bots(tenant) == []


async def test_a_disconnected_calendars_bot_moves_to_a_connected_copy(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    await create_rule(tenant)
    ada, bob = await one_meeting_on_two_calendars(control, context, tenant)
    [first] = await live_bots(tenant)
    on, other = (ada, bob) if first["calendar_id"] == ada.id else (bob, ada)
    # Its calendar's grant is revoked: the bot pauses with it, then moves onto the connected copy (the same bot).
    await control.revoke_grant(on.account["id"])
    await control.expire_access_tokens(on.account["id"])
    await on.sync(context)
    [moved] = await live_bots(tenant)
    assert moved["id"] == first["id"] and moved["calendar_id"] == other.id
    assert (moved["state"], moved["state_reason"]["code"]) == ("scheduled", "moved_to_connected_calendar")
    # Both disconnected: it waits on the copy it has (paused), and resumes when that calendar comes back.
    await control.revoke_grant(other.account["id"])
    await control.expire_access_tokens(other.account["id"])
    await other.sync(context)
    [paused] = await live_bots(tenant)
    assert (paused["id"], paused["calendar_id"], paused["state"]) == (first["id"], other.id, "paused")
    refresh_token = await control.restore_grant(on.account["id"])
    response = await tenant.client.patch(f"/api/v1/calendars/{on.id}", json={"refresh_token": refresh_token})
    assert response.status_code == 200, response.text
    await on.sync(context)
    [back] = await live_bots(tenant)
    assert (back["id"], back["calendar_id"], back["state"]) == (first["id"], on.id, "scheduled")


async def test_internal_domains_through_the_api_re_evaluate_the_meetings(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    assert (await get(tenant, "/api/v1/bot_rule_settings")) == {"internal_domains": []}
    rule = await create_rule(tenant, event_selection="external")
    ada = await calendar(control, tenant, "ada@acme.test")
    await invite(control, ada, tomorrow())  # Cy of contoso.test is invited: external
    await ada.sync(context)
    [first] = await live_bots(tenant)
    # contoso.test is a sister company: internal. The meeting is re-evaluated, and its bot cancelled.
    response = await tenant.client.patch(
        "/api/v1/bot_rule_settings", json={"internal_domains": [" @Contoso.TEST ", "contoso.test"]}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"internal_domains": ["contoso.test"]}
    assert (await get(tenant, "/api/v1/bot_rule_settings")) == {"internal_domains": ["contoso.test"]}
    await evaluate_all(context)
    assert await live_bots(tenant) == []
    assert (await only_meeting(tenant))["decision"]["reasons"] == [{"rule_id": rule["id"], "code": "not_external"}]
    # Cleared: the same bot comes back.
    response = await tenant.client.patch("/api/v1/bot_rule_settings", json={"internal_domains": []})
    assert response.status_code == 200 and response.json() == {"internal_domains": []}
    await evaluate_all(context)
    assert [b["id"] for b in await live_bots(tenant)] == [first["id"]]
    # An empty body changes nothing; bad input is a field error, and nothing stored changes.
    assert (await tenant.client.patch("/api/v1/bot_rule_settings", json={})).json() == {"internal_domains": []}
    for body, field in (
        ({"internal_domains": None}, "internal_domains"),
        ({"internal_domains": "acme.test"}, "internal_domains"),
        ({"internal_domains": ["acme .test"]}, "internal_domains"),
        ({"internal_domains": ["127.1"]}, "internal_domains"),
        ({"internal_domains": ["a" * 300 + ".test"]}, "internal_domains"),
        ({"internal_domains": [f"d{n}.test" for n in range(101)]}, "internal_domains"),
        ({"domains": ["acme.test"]}, "domains"),
    ):
        response = await tenant.client.patch("/api/v1/bot_rule_settings", json=body)
        assert response.status_code == 400, (body, response.text)
        assert field in response.text
    assert (await get(tenant, "/api/v1/bot_rule_settings")) == {"internal_domains": []}


async def test_a_bot_created_by_hand_is_the_meetings_one_bot(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    await create_rule(tenant, bot_name="Notes")
    ada, bob = await one_meeting_on_two_calendars(control, context, tenant)
    [rules_bot] = await live_bots(tenant)
    # The application sends its own bot to Bob's copy: the rules' bot stands aside (one bot per meeting).
    [bobs_copy] = await events_of(tenant, bob)
    response = await tenant.client.post("/api/v1/bots", json={"calendar_event_id": bobs_copy["id"]})
    assert response.status_code == 201, response.text
    by_hand = response.json()
    await evaluate_all(context)
    assert [b["id"] for b in await live_bots(tenant)] == [by_hand["id"]]
    assert (await bot(tenant, rules_bot["id"]))["state_reason"]["code"] == "meeting_has_manual_bot"
    meeting = await only_meeting(tenant)
    assert meeting["bot"]["id"] == by_hand["id"] and meeting["decision"]["bot"] is True
    # The application cancels its bot: the rules' bot comes back, the same one.
    assert (await tenant.client.delete(f"/api/v1/bots/{by_hand['id']}")).status_code == 200
    await evaluate_all(context)
    [back] = await live_bots(tenant)
    assert (back["id"], back["state_reason"]["code"]) == (rules_bot["id"], "meeting_selected")
    # A bot made by hand before the rules look at a new meeting: the rules add none.
    later = tomorrow() + timedelta(days=1)
    await invite(control, ada, later, uid="later@acme.test")
    await ada.sync(context, evaluate=False)
    new_copy = next(e for e in await events_of(tenant, ada) if e["start_time"].startswith(later.strftime("%Y-%m-%d")))
    response = await tenant.client.post("/api/v1/bots", json={"calendar_event_id": new_copy["id"]})
    assert response.status_code == 201, response.text
    await evaluate_all(context)
    assert {b["id"] for b in await live_bots(tenant)} == {rules_bot["id"], response.json()["id"]}
