"""Every calendar exposes its owner's email, learned at sync (Google: its id or the `self` attendee; Graph: the
calendar's owner, /me's mail)."""

from __future__ import annotations

from datetime import timedelta

from calsync.context import AppContext
from calsync.emulator.client import EmulatorControl
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
