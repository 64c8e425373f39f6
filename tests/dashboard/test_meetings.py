"""The meetings and rules pages over HTTP, on SQLite and PostgreSQL: the meetings list and its filters and pages,
a meeting's page with its decision and every rule's reason in words, the rules list and a rule's page with the
re-evaluation's progress, an event's meeting; the override buttons are the API's override (CSRF-checked); another
project's meetings and rules can be neither seen nor overridden."""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from calsync.context import AppContext
from calsync.dashboard.meetings import pages, views
from calsync.meetings import decide, queue
from calsync.meetings.loop import evaluate_all
from calsync.store.models import CalendarEvent
from calsync.sync import meeting_keys as keys
from tests.dashboard.support import dashboard_client, sign_in
from tests.support.factories import insert_events
from tests.support.service import Tenant
from tests.webhooks.support import create_calendar

MEET = "https://meet.google.com/abc-defg-hij"
ZOOM = "https://zoom.us/j/123456789"


async def meeting(
    context: AppContext,
    tenant: Tenant,
    calendar_ids: list[str],
    start: datetime,
    name: str,
    *,
    url: str | None = MEET,
    platform: str | None = "google_meet",
) -> tuple[str, list[str]]:
    """(mtg_ id, evt_ ids): one copy of a meeting on each calendar, grouped as the sync groups them (the same
    meeting id from the link and start), and queued for evaluation as a sync page queues it."""
    event_ids: list[str] = []
    meeting_id = ""
    for calendar_id in calendar_ids:
        [event_id] = await insert_events(context, calendar_id, 1, start=start)
        values = {"start_time": start, "meeting_url": url, "ical_uid": f"{name}@test", "platform_uuid": event_id}
        meeting_id = keys.event_meeting_id(tenant.project_id, {**values, "calendar_id": 0})
        async with context.db.write() as session:
            await session.execute(
                update(CalendarEvent)
                .where(CalendarEvent.object_id == event_id)
                .values(
                    name=name,
                    meeting_url=url,
                    meeting_platform=platform,
                    ical_uid=f"{name}@test",
                    meeting_object_id=meeting_id,
                )
            )
        event_ids.append(event_id)
    async with context.db.write() as session:
        await queue.enqueue(session, tenant.project_id, [meeting_id], context.clock())
    return meeting_id, event_ids


async def create_rule(tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await tenant.client.post("/api/v1/bot_rules", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def api_meeting(tenant: Tenant, meeting_id: str) -> dict[str, Any]:
    response = await tenant.client.get(f"/api/v1/meetings/{meeting_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def text_of(page: str) -> str:
    return html.unescape(page)


async def test_meetings_and_rules_pages_show_the_bots_and_why(
    context: AppContext, api_url: str, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = context.clock()
    cal_a = (await create_calendar(tenant))["id"]
    cal_b = (await create_calendar(tenant))["id"]
    review, review_events = await meeting(context, tenant, [cal_a, cal_b], now + timedelta(hours=3), "Design review")
    standup, _ = await meeting(context, tenant, [cal_a], now + timedelta(days=1), "Standup", url=ZOOM, platform="zoom")
    no_link, _ = await meeting(context, tenant, [cal_b], now + timedelta(days=2), "Lunch", url=None, platform=None)
    record = await create_rule(tenant, name="Record", priority=10, bot_name="Notes")
    no_design = await create_rule(tenant, name="No design", priority=20, title_exclude=["design"])
    only_b = await create_rule(tenant, name="Only B", priority=5, calendar_ids=[cal_b], is_active=True)

    async with dashboard_client(api_url) as client:
        await sign_in(client, tenant.api_key)
        # Nothing evaluated yet (the test runs no worker): each rule's re-evaluation is running.
        rules = text_of((await client.get("/dashboard/rules")).text)
        assert 'href="/dashboard/rules" aria-current="page"' in rules
        assert rules.count("re-evaluating: 0 of 3 meetings done") == 3

        # The three meetings the rules queued, and the same three found from their events' changes.
        assert await evaluate_all(context) == 3 + 3
        [bot] = [(await api_meeting(tenant, review))["bot"]]
        assert bot is not None and bot["rule_id"] == record["id"]
        standup_bot = (await api_meeting(tenant, standup))["bot"]

        # The list: by start time, each with its events, its bot and the decision in words.
        listing = text_of((await client.get("/dashboard/meetings")).text)
        assert 'href="/dashboard/meetings" aria-current="page"' in listing
        assert listing.index("Design review") < listing.index("Standup") < listing.index("Lunch")
        assert f'<a href="/dashboard/meetings/{review}">Design review</a>' in listing
        assert f'<a href="/dashboard/bots/{bot["id"]}">Notes</a>' in listing
        assert f"/dashboard/bots/{standup_bot['id']}" in listing
        assert '<td class="n">2</td>' in listing  # the review's two copies
        assert "Bot: yes, by the rule “Record”." in listing and "Bot: yes, by the rule “No design”." in listing
        assert "Bot: no. No rule selects it." in listing

        # Filters: has a bot, platform, calendar, from this hour on; nonsense is ignored.
        async def shown(**params: str) -> set[str]:
            page = (await client.get("/dashboard/meetings", params=params)).text
            return {m for m in (review, standup, no_link) if f"/dashboard/meetings/{m}" in page}

        assert await shown(has_bot="no") == {no_link}
        assert await shown(has_bot="yes") == {review, standup}
        assert await shown(platform="zoom") == {standup}
        assert await shown(calendar_id=cal_b) == {review, no_link}
        assert await shown(calendar_id=cal_a, has_bot="yes") == {review, standup}
        assert await shown(when="upcoming") == {review, standup, no_link}
        assert await shown(has_bot="maybe", platform="fax", when="someday") == {review, standup, no_link}

        # Keyset pages, as the API's.
        monkeypatch.setattr(pages, "MEETING_PAGE_SIZE", 2)
        first = (await client.get("/dashboard/meetings")).text
        assert review in first and standup in first and no_link not in first
        next_link = html.unescape(first.split('rel="next"', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0])
        second = (await client.get("/dashboard/meetings" + next_link)).text
        assert no_link in second and review not in second and 'rel="prev"' in second

        # A meeting's page: its events, the bot, and every rule that did not win with its reason in words.
        page = text_of((await client.get(f"/dashboard/meetings/{review}")).text)
        for event_id in review_events:
            assert f'<a href="/dashboard/events/{event_id}">Design review</a>' in page
        assert f"/dashboard/calendars/{cal_a}" in page and f"/dashboard/calendars/{cal_b}" in page
        assert f"/dashboard/bots/{bot['id']}" in page and f"/dashboard/rules/{record['id']}" in page
        assert "<code>title_excluded</code>" in page and views.REASON_TEXT[decide.TITLE_EXCLUDED] in page
        assert "<code>lower_priority</code>" in page and views.REASON_TEXT[decide.LOWER_PRIORITY] in page
        assert "No design" in page and "Only B" in page
        assert "Always a bot" in page and "Never a bot" in page and "Clear the override" not in page
        lunch = text_of((await client.get(f"/dashboard/meetings/{no_link}")).text)
        assert "<code>no_meeting_url</code>" in lunch and views.REASON_TEXT[decide.NO_MEETING_URL] in lunch
        assert "No live bot serves this meeting." in lunch
        standup_page = text_of((await client.get(f"/dashboard/meetings/{standup}")).text)
        assert "<code>calendar_out_of_scope</code>" in standup_page
        assert views.REASON_TEXT[decide.CALENDAR_OUT_OF_SCOPE] in standup_page

        # The rules: each with its scope, selection and progress, linking to its page.
        rules = text_of((await client.get("/dashboard/rules")).text)
        assert rules.count("done (3 meetings re-evaluated)") == 3
        for rule in (record, no_design, only_b):
            assert f'<a href="/dashboard/rules/{rule["id"]}">{rule["name"]}</a>' in rules
        assert f"1 calendar: {cal_b}" in rules and "title has none of “design”" in rules
        assert "all calendars" in rules and "every meeting; not declined; no all-day events" in rules
        detail = text_of((await client.get(f"/dashboard/rules/{record['id']}")).text)
        assert "Record" in detail and "Notes" in detail and "done (3 meetings re-evaluated)" in detail

        # An event's page names its meeting; a calendar's links to its meetings.
        event_page = text_of((await client.get(f"/dashboard/events/{review_events[0]}")).text)
        assert f'<a href="/dashboard/meetings/{review}">Design review</a>' in event_page
        assert "Bot: yes, by the rule “Record”." in event_page
        calendar_page = (await client.get(f"/dashboard/calendars/{cal_a}")).text
        assert f"/dashboard/meetings?calendar_id={cal_a}" in calendar_page


async def test_override_is_the_api_s_override(context: AppContext, api_url: str, tenant: Tenant) -> None:
    calendar_id = (await create_calendar(tenant))["id"]
    meeting_id, _ = await meeting(context, tenant, [calendar_id], context.clock() + timedelta(hours=2), "Review")
    rule = await create_rule(tenant, name="Record")
    await evaluate_all(context)
    bot = (await api_meeting(tenant, meeting_id))["bot"]
    assert bot is not None
    path = f"/dashboard/meetings/{meeting_id}/bot_override"
    async with dashboard_client(api_url) as client:
        csrf = await sign_in(client, tenant.api_key)
        done = await client.post(path, data={"csrf_token": csrf, "bot_override": "never"})
        assert done.status_code == 303
        assert done.headers["location"] == f"/dashboard/meetings/{meeting_id}?notice=meeting_override_set"
        page = text_of((await client.get(done.headers["location"])).text)
        assert "The override is set" in page and "Bot: no, by the override “never”." in page
        assert "<code>overridden</code>" in page and views.REASON_TEXT[decide.OVERRIDDEN] in page
        assert "Clear the override" in page and "Never a bot" not in page
        after = await api_meeting(tenant, meeting_id)
        assert after["bot_override"] == "never" and after["bot"] is None
        assert after["decision"] == {
            "bot": False,
            "rule_id": None,
            "override": "never",
            "reasons": [{"rule_id": rule["id"], "code": "overridden"}],
        }
        cancelled = (await client.get(f"/dashboard/bots/{bot['id']}")).text
        assert "bot_override_never" in cancelled

        # Clear: the rules decide again, and the same bot comes back.
        assert (await client.post(path, data={"csrf_token": csrf, "bot_override": "clear"})).status_code == 303
        cleared = await api_meeting(tenant, meeting_id)
        assert cleared["bot_override"] is None and cleared["bot"]["id"] == bot["id"]
        assert (await client.post(path, data={"csrf_token": csrf, "bot_override": "always"})).status_code == 303
        always = await api_meeting(tenant, meeting_id)
        assert always["decision"]["override"] == "always" and always["bot"]["id"] == bot["id"]
        page = text_of((await client.get(f"/dashboard/meetings/{meeting_id}")).text)
        assert "Bot: yes, by the override “always”." in page

        unknown = await client.post(path, data={"csrf_token": csrf, "bot_override": "sometimes"})
        assert unknown.status_code == 400
    assert (await api_meeting(tenant, meeting_id))["bot_override"] == "always"


async def test_override_needs_the_csrf_token(context: AppContext, api_url: str, tenant: Tenant) -> None:
    calendar_id = (await create_calendar(tenant))["id"]
    meeting_id, _ = await meeting(context, tenant, [calendar_id], context.clock() + timedelta(hours=2), "Review")
    await evaluate_all(context)
    path = f"/dashboard/meetings/{meeting_id}/bot_override"
    async with dashboard_client(api_url) as client:
        csrf = await sign_in(client, tenant.api_key)
        assert (await client.post(path, data={"bot_override": "always"})).status_code == 403
        forged = await client.post(path, data={"csrf_token": "0" * 64, "bot_override": "always"})
        assert forged.status_code == 403 and "security token" in forged.text
        cross_site = await client.post(
            path, data={"csrf_token": csrf, "bot_override": "always"}, headers={"Origin": "https://evil.example"}
        )
        assert cross_site.status_code == 403
        assert (await client.post(path, json={"csrf_token": csrf, "bot_override": "always"})).status_code == 415
    async with dashboard_client(api_url) as stranger:
        refused = await stranger.post(path, data={"csrf_token": csrf, "bot_override": "always"})
        assert refused.status_code == 303 and "/dashboard/login" in refused.headers["location"]
    after = await api_meeting(tenant, meeting_id)
    assert after["bot_override"] is None and after["bot"] is None


async def test_another_project_s_meetings_and_rules_are_not_found(
    context: AppContext, api_url: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    start = context.clock() + timedelta(hours=2)
    their_calendar = (await create_calendar(other_tenant))["id"]
    theirs, their_events = await meeting(context, other_tenant, [their_calendar], start, "Their meeting")
    their_rule = await create_rule(other_tenant, name="Their rule")
    ours, _ = await meeting(context, tenant, [(await create_calendar(tenant))["id"]], start, "Our meeting")
    our_rule = await create_rule(tenant, name="Our rule")
    await evaluate_all(context)
    async with dashboard_client(api_url) as client:
        csrf = await sign_in(client, tenant.api_key)
        missing = await client.get(f"/dashboard/meetings/{theirs}")
        assert missing.status_code == 404 and "Meeting not found" in missing.text
        refused = await client.post(
            f"/dashboard/meetings/{theirs}/bot_override", data={"csrf_token": csrf, "bot_override": "never"}
        )
        assert refused.status_code == 404
        assert (await client.get(f"/dashboard/rules/{their_rule['id']}")).status_code == 404
        assert (await client.get(f"/dashboard/events/{their_events[0]}")).status_code == 404
        for params in ({}, {"calendar_id": their_calendar}, {"has_bot": "yes"}):
            listing = (await client.get("/dashboard/meetings", params=params)).text
            assert theirs not in listing and "Their meeting" not in listing, params
        assert ours in (await client.get("/dashboard/meetings")).text
        rules = (await client.get("/dashboard/rules")).text
        assert our_rule["id"] in rules and their_rule["id"] not in rules
    their_meeting = await api_meeting(other_tenant, theirs)
    assert their_meeting["bot_override"] is None and their_meeting["bot"] is not None

    async with dashboard_client(api_url) as client:  # and the other way round
        await sign_in(client, other_tenant.api_key)
        assert (await client.get(f"/dashboard/meetings/{ours}")).status_code == 404
        listing = (await client.get("/dashboard/meetings")).text
        assert theirs in listing and ours not in listing


def test_every_reason_code_is_explained() -> None:
    codes = {*decide.CHECK_ORDER, decide.LOWER_PRIORITY, decide.OVERRIDDEN}
    assert codes == set(views.REASON_TEXT)
