"""Every calendar exposes its owner's email, learned at sync (Google: its id or the `self` attendee; Graph: the
calendar's owner, /me's mail)."""

from __future__ import annotations

from datetime import timedelta

from calsync.context import AppContext
from calsync.emails import email_like
from calsync.meetings.owner import owner_from_events
from calsync.providers.base import Attendee, NormalizedEvent
from calsync_emulator.client import EmulatorControl
from tests.bots.support import tomorrow
from tests.support.service import Tenant
from tests.sync.conftest import connect_calendar, sync_once


async def owner(tenant: Tenant, calendar_id: str) -> str | None:
    response = await tenant.client.get(f"/api/v1/calendars/{calendar_id}")
    assert response.status_code == 200, response.text
    value: str | None = response.json()["owner_email"]
    return value


async def test_google_calendar_id_is_its_owner(control: EmulatorControl, context: AppContext, tenant: Tenant) -> None:
    account = await control.create_account("google", email="ada@acme.test")
    calendar = await connect_calendar(tenant, account, platform_uuid=account["primary_calendar_id"])
    assert calendar["owner_email"] is None, "unknown before the first sync"
    await sync_once(context, calendar["id"])
    assert await owner(tenant, calendar["id"]) == "ada@acme.test"


async def test_google_primary_learns_its_owner_from_the_self_attendee(
    control: EmulatorControl, context: AppContext, tenant: Tenant
) -> None:
    account = await control.create_account("google", email="bob@acme.test")
    start = tomorrow()
    await control.create_event(account["primary_calendar_id"], start, start + timedelta(minutes=30), summary="1:1")
    calendar = await connect_calendar(tenant, account)  # platform_uuid None: "primary"
    await sync_once(context, calendar["id"])
    assert await owner(tenant, calendar["id"]) == "bob@acme.test"


async def test_microsoft_owner_is_the_mailbox(control: EmulatorControl, context: AppContext, tenant: Tenant) -> None:
    account = await control.create_account("microsoft", email="cy@contoso.test")
    calendar = await connect_calendar(tenant, account)
    await sync_once(context, calendar["id"])
    assert await owner(tenant, calendar["id"]) == "cy@contoso.test"


def test_owner_from_events_reads_the_normalized_flags_only() -> None:
    organized = NormalizedEvent(
        "e1", False, organizer={"email": "Dee@Acme.test", "name": None}, organizer_is_owner=True
    )
    foreign = NormalizedEvent(
        "e2", False, organizer={"email": "boss@acme.test", "name": None}, raw={"isOrganizer": True}
    )
    attended = NormalizedEvent("e3", False, attendees=[Attendee("Eve@Acme.test", None, "accepted", is_self=True)])
    assert owner_from_events([foreign]) is None, "the platform's payload is the providers' business"
    assert owner_from_events([foreign, organized]) == "dee@acme.test"
    assert owner_from_events([attended, organized]) == "eve@acme.test"


def test_email_like_refuses_what_is_not_a_mailbox() -> None:
    assert email_like("Ada@Acme.test") == "ada@acme.test"
    assert email_like("team@group.calendar.google.com") is None
    assert email_like("room@resource.calendar.google.com") is None
    assert email_like("not-an-address") is None
    assert email_like("ada@localhost") is None
