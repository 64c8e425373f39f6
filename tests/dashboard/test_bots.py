"""The bots pages over HTTP, on SQLite and PostgreSQL: the timeline and its filters, a bot's page, the overview's
"due in the next hour", a calendar's and an event's bots, Cancel (the API's lifecycle path, CSRF-checked), and
that another project's bots can be neither seen nor cancelled. (test_browser.py drives them in Chromium.)"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from calsync.context import AppContext
from calsync.store.models import CalendarEvent, WebhookDelivery
from tests.bots.support import create_bot, get_bot
from tests.dashboard.support import dashboard_client, sign_in
from tests.support.factories import insert_events
from tests.support.service import Tenant
from tests.webhooks.support import create_calendar, create_webhook

MEET = "https://meet.google.com/abc-defg-hij"
BOT_TRIGGERS = ["bot.dispatch", "bot.updated", "bot.state_change"]


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


async def meeting_event(context: AppContext, tenant: Tenant, start: datetime, name: str) -> tuple[str, str]:
    """(cal_ id, evt_ id) of an event with a meeting link on a connected calendar of the tenant."""
    calendar = await create_calendar(tenant)
    [event_id] = await insert_events(context, calendar["id"], 1, start=start)
    async with context.db.write() as session:
        await session.execute(
            update(CalendarEvent)
            .where(CalendarEvent.object_id == event_id)
            .values(name=name, meeting_url=MEET, meeting_platform="google_meet")
        )
    return calendar["id"], event_id


async def test_bots_pages_show_the_project_s_bots(context: AppContext, api_url: str, tenant: Tenant) -> None:
    now = context.clock()
    calendar_id, event_id = await meeting_event(context, tenant, now + timedelta(hours=3), "Design review")
    notes = await create_bot(tenant, calendar_event_id=event_id, bot_name="Notes", join_offset_seconds=-60)
    soon = await create_bot(tenant, meeting_url=MEET, join_at=iso(now + timedelta(minutes=30)), bot_name="Soon")
    later = await create_bot(tenant, meeting_url=MEET, join_at=iso(now + timedelta(days=3)), bot_name="Later")
    gone = await create_bot(tenant, meeting_url=MEET, join_at=iso(now + timedelta(hours=5)), bot_name="Gone")
    assert (await tenant.client.delete(f"/api/v1/bots/{gone['id']}")).status_code == 200

    async with dashboard_client(api_url) as client:
        await sign_in(client, tenant.api_key)

        # The next 24 hours on a timeline, each bot with its state (and reason once it has one).
        page = await client.get("/dashboard/bots")
        assert page.status_code == 200
        text = page.text
        assert 'href="/dashboard/bots" aria-current="page"' in text
        for bot in (notes, soon, gone):
            assert f'<a href="/dashboard/bots/{bot["id"]}">' in text, bot["bot_name"]
        assert later["id"] not in text  # joins in 3 days
        assert text.count('<rect class="bot bot-scheduled"') == 2 and text.count('<rect class="bot bot-cancelled"') == 1
        assert "cancelled_by_request" in text
        assert "Design review" in text and f"/dashboard/events/{event_id}" in text
        assert text.count("/cancel") == 2  # a Cancel form for each live bot, none for the cancelled one

        week = (await client.get("/dashboard/bots", params={"window": "7d"})).text
        assert later["id"] in week
        cancelled = (await client.get("/dashboard/bots", params={"state": "cancelled", "window": "all"})).text
        assert gone["id"] in cancelled and notes["id"] not in cancelled and soon["id"] not in cancelled
        of_calendar = (await client.get("/dashboard/bots", params={"calendar_id": calendar_id, "window": "all"})).text
        assert notes["id"] in of_calendar and soon["id"] not in of_calendar
        ignored = await client.get("/dashboard/bots", params={"state": "nonsense", "window": "nonsense"})
        assert ignored.status_code == 200 and soon["id"] in ignored.text

        # A bot's page: timing, its event and calendar, its reason.
        detail = (await client.get(f"/dashboard/bots/{notes['id']}")).text
        assert "Notes" in detail and "Cancel bot" in detail and "-60 s" in detail
        assert f"/dashboard/events/{event_id}" in detail and f"/dashboard/calendars/{calendar_id}" in detail
        assert "The project has no webhooks" in detail
        ended = (await client.get(f"/dashboard/bots/{gone['id']}")).text
        assert "cancelled_by_request" in ended and "The bot was cancelled through the API." in ended
        assert "Cancel bot" not in ended

        # The overview: the bot dispatched within the hour (the others are due later).
        overview = (await client.get("/dashboard/")).text
        due = overview.split('id="bots-due"', 1)[1]
        assert "1</span> due in the next hour" in due and soon["id"] in due and notes["id"] not in due

        # The calendar's page and the event's page show their bots.
        calendar_page = (await client.get(f"/dashboard/calendars/{calendar_id}")).text
        assert "Notes: scheduled" in calendar_page  # beside its event in the week's table
        assert "Bots of this calendar" in calendar_page and f"/dashboard/bots/{notes['id']}" in calendar_page
        event_page = (await client.get(f"/dashboard/events/{event_id}")).text
        assert "Notes: scheduled" in event_page and f"/dashboard/bots/{notes['id']}" in event_page


async def test_overdue_bots_stand_out(context: AppContext, api_url: str, tenant: Tenant) -> None:
    now = context.clock()
    late = await create_bot(tenant, meeting_url=MEET, join_at=iso(now + timedelta(minutes=10)), bot_name="Late")
    # As if no worker had dispatched it: still scheduled, due five minutes ago (the test runs no worker).
    clock = context.clock
    context.clock = lambda: clock() + timedelta(minutes=13)
    try:
        async with dashboard_client(api_url) as client:
            await sign_in(client, tenant.api_key)
            overview = (await client.get("/dashboard/")).text
    finally:
        context.clock = clock
    due = overview.split('id="bots-due"', 1)[1]
    assert late["id"] in due and "overdue" in due and "is a worker running?" in due


async def test_cancel_is_the_api_s_cancel(context: AppContext, api_url: str, tenant: Tenant) -> None:
    now = context.clock()
    await create_webhook(tenant, "http://127.0.0.1:9/runner", triggers=BOT_TRIGGERS)
    bot = await create_bot(tenant, meeting_url=MEET, join_at=iso(now + timedelta(hours=2)), bot_name="Notes")
    async with dashboard_client(api_url) as client:
        csrf = await sign_in(client, tenant.api_key)
        done = await client.post(f"/dashboard/bots/{bot['id']}/cancel", data={"csrf_token": csrf})
        assert done.status_code == 303
        assert done.headers["location"] == f"/dashboard/bots/{bot['id']}?notice=bot_cancelled"
        page = (await client.get(done.headers["location"])).text
        assert "The bot is cancelled" in page and "Cancel bot" not in page
        assert "bot.state_change" in page  # the webhook about it, queued in the same transaction
        # Cancelling again changes nothing and is no error (as DELETE).
        again = await client.post(f"/dashboard/bots/{bot['id']}/cancel", data={"csrf_token": csrf})
        assert again.status_code == 303
    after = await get_bot(tenant, bot["id"])
    assert after["state"] == "cancelled"
    assert after["state_reason"] == {
        "code": "cancelled_by_request",
        "message": "The bot was cancelled from the dashboard.",
    }
    async with context.db.read() as session:
        triggers = (
            (await session.execute(select(WebhookDelivery.trigger).where(WebhookDelivery.bot_object_id == bot["id"])))
            .scalars()
            .all()
        )
    assert list(triggers) == ["bot.state_change"]


async def test_cancel_needs_the_csrf_token(context: AppContext, api_url: str, tenant: Tenant) -> None:
    bot = await create_bot(tenant, meeting_url=MEET, join_at=iso(context.clock() + timedelta(hours=2)))
    path = f"/dashboard/bots/{bot['id']}/cancel"
    async with dashboard_client(api_url) as client:
        csrf = await sign_in(client, tenant.api_key)
        assert (await client.post(path, data={"other": "1"})).status_code == 403
        assert (await client.post(path, data={"csrf_token": "0" * 64})).status_code == 403
        cross_site = await client.post(path, data={"csrf_token": csrf}, headers={"Origin": "https://evil.example"})
        assert cross_site.status_code == 403
        assert (await client.post(path, json={"csrf_token": csrf})).status_code == 415
        async with dashboard_client(api_url) as other:
            other_csrf = await sign_in(other, tenant.api_key)
        assert (await client.post(path, data={"csrf_token": other_csrf})).status_code == 403
    async with dashboard_client(api_url) as stranger:  # not signed in: to the sign-in form, nothing done
        refused = await stranger.post(path, data={"csrf_token": csrf})
        assert refused.status_code == 303 and "/dashboard/login" in refused.headers["location"]
    assert (await get_bot(tenant, bot["id"]))["state"] == "scheduled"


async def test_another_project_s_bots_are_not_found(
    context: AppContext, api_url: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    now = context.clock()
    their_calendar, their_event = await meeting_event(context, other_tenant, now + timedelta(hours=1), "Theirs")
    theirs = await create_bot(other_tenant, calendar_event_id=their_event, bot_name="Their bot")
    ours = await create_bot(tenant, meeting_url=MEET, join_at=iso(now + timedelta(minutes=20)), bot_name="Our bot")
    async with dashboard_client(api_url) as client:
        csrf = await sign_in(client, tenant.api_key)
        missing = await client.get(f"/dashboard/bots/{theirs['id']}")
        assert missing.status_code == 404 and "Bot not found" in missing.text
        refused = await client.post(f"/dashboard/bots/{theirs['id']}/cancel", data={"csrf_token": csrf})
        assert refused.status_code == 404
        for params in ({}, {"window": "all"}, {"window": "all", "calendar_id": their_calendar}):
            listing = (await client.get("/dashboard/bots", params=params)).text
            assert theirs["id"] not in listing and "Their bot" not in listing, params
        overview = (await client.get("/dashboard/")).text
        assert ours["id"] in overview and theirs["id"] not in overview
        assert (await client.get(f"/dashboard/events/{their_event}")).status_code == 404
    assert (await get_bot(other_tenant, theirs["id"]))["state"] == "scheduled"

    # And the other way round: their operator sees their bot, not ours.
    async with dashboard_client(api_url) as client:
        await sign_in(client, other_tenant.api_key)
        listing = (await client.get("/dashboard/bots", params={"window": "all"})).text
        assert theirs["id"] in listing and ours["id"] not in listing
