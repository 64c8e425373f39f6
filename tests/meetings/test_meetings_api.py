"""Meetings over HTTP on both databases, against the emulator: grouping across calendars and platforms, membership
kept as events sync, the list's filters and pages, `meeting_id` on events."""

from __future__ import annotations

from datetime import timedelta

from calsync.context import AppContext
from calsync_emulator.client import EmulatorControl
from tests.bots.support import tomorrow
from tests.meetings.support import MEET, OTHER_MEET, all_meetings, calendar, events_of, get, invite
from tests.support.service import Tenant


async def test_one_meeting_on_three_calendars_of_both_platforms(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    start = tomorrow()
    cals = [
        await calendar(control, tenant, "ada@acme.test"),
        await calendar(control, tenant, "bob@acme.test", platform="microsoft"),
        await calendar(control, tenant, "cy@contoso.test"),
    ]
    for cal in cals:
        await invite(control, cal, start)
        await cal.sync(context)
    [meeting] = await all_meetings(tenant)
    assert meeting["id"].startswith("mtg_") and meeting["meeting_url"] == MEET
    assert meeting["name"] == "Design review" and meeting["ical_uid"] == "standup-1@acme.test"
    assert sorted(e["calendar_id"] for e in meeting["events"]) == sorted(c.id for c in cals)
    assert {e["response_status"] for e in meeting["events"]} == {"accepted"}
    assert meeting["bot"] is None and meeting["bot_override"] is None
    assert meeting["decision"] == {"bot": False, "rule_id": None, "override": None, "reasons": []}
    for cal in cals:
        [event] = await events_of(tenant, cal)
        assert event["meeting_id"] == meeting["id"]
    assert await get(tenant, f"/api/v1/meetings/{meeting['id']}") == meeting


async def test_instances_links_and_starts_make_separate_meetings(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    start = tomorrow()
    cal = await calendar(control, tenant, "ada@acme.test")
    other = await calendar(control, tenant, "bob@acme.test", platform="microsoft")
    await invite(control, cal, start, uid="a@x")
    # A forwarded invite (a new iCalUID) in the same room at the same time: the same meeting.
    await invite(control, other, start, uid="forwarded@x")
    # A personal room reused later the same day: another meeting.
    await invite(control, cal, start + timedelta(hours=2), uid="b@x")
    # Another room at the same time: another meeting.
    await invite(control, other, start, uid="c@x", meeting_url=OTHER_MEET)
    await cal.sync(context)
    await other.sync(context)
    meetings = await all_meetings(tenant)
    assert [len(m["events"]) for m in meetings] in ([2, 1, 1], [1, 2, 1])
    assert [m["start_time"] for m in meetings] == sorted(m["start_time"] for m in meetings)


async def test_an_event_that_moves_leaves_its_meeting(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    start = tomorrow()
    ada = await calendar(control, tenant, "ada@acme.test")
    bob = await calendar(control, tenant, "bob@acme.test")
    await invite(control, ada, start)
    copy = await invite(control, bob, start)
    await ada.sync(context)
    await bob.sync(context)
    [meeting] = await all_meetings(tenant)
    later = start + timedelta(hours=1)
    await control.update_event(
        bob.platform_calendar_id, copy["id"], start=later.isoformat(), end=(later + timedelta(minutes=30)).isoformat()
    )
    await bob.sync(context)
    meetings = await all_meetings(tenant)
    assert len(meetings) == 2
    assert [m["events"][0]["calendar_id"] for m in meetings] == [ada.id, bob.id]
    assert meetings[0]["id"] == meeting["id"]


async def test_filters_pages_and_errors(
    control: EmulatorControl, context: AppContext, tenant: Tenant, other_tenant: Tenant
) -> None:
    start = tomorrow()
    ada = await calendar(control, tenant, "ada@acme.test")
    bob = await calendar(control, tenant, "bob@acme.test", platform="microsoft")
    for hour in range(30):
        at = start + timedelta(hours=hour)
        await invite(control, ada if hour % 2 else bob, at, uid=f"m{hour}@x")
    await ada.sync(context)
    await bob.sync(context)
    everything = await all_meetings(tenant)
    assert len(everything) == 30
    assert len(await all_meetings(tenant, calendar_id=ada.id)) == 15
    assert len(await all_meetings(tenant, has_bot="false")) == 30
    assert await all_meetings(tenant, has_bot="true") == []
    assert len(await all_meetings(tenant, meeting_platform="google_meet")) == 30
    assert await all_meetings(tenant, meeting_platform="zoom") == []
    window = await all_meetings(
        tenant, start_time_gte=everything[3]["start_time"], start_time_lte=everything[5]["start_time"]
    )
    assert [m["id"] for m in window] == [m["id"] for m in everything[3:6]]
    # Scoped to the caller's project, clear errors.
    assert (await other_tenant.client.get(f"/api/v1/meetings/{everything[0]['id']}")).status_code == 404
    assert (await all_meetings(other_tenant)) == []
    response = await tenant.client.get("/api/v1/meetings/mtg_nope")
    assert response.status_code == 404 and response.json() == {"error": "Meeting not found", "code": "not_found"}
    response = await tenant.client.get("/api/v1/meetings", params={"start_time_gte": "yesterday"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_datetime"
    response = await tenant.client.get("/api/v1/meetings", params={"has_bot": "maybe"})
    assert response.status_code == 400
    response = await tenant.client.get("/api/v1/meetings", params={"cursor": "garbage"})
    assert response.status_code == 404 and response.json()["code"] == "invalid_cursor"
