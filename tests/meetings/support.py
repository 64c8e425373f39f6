"""Helpers for meeting tests: calendars on the emulator (both platforms), one real meeting copied onto several of
them, the evaluation run to the end, and the meetings API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from calsync.context import AppContext
from calsync.meetings.loop import evaluate_all
from calsync_emulator.client import EmulatorControl
from tests.support.service import Tenant
from tests.sync.conftest import calendar_row, connect_calendar, list_events, sync_once

MEET = "https://meet.google.com/abc-defg-hij"
OTHER_MEET = "https://meet.google.com/xyz-wvut-srq"


@dataclass
class Cal:
    """A connected calendar of an emulator account."""

    account: dict[str, Any]
    id: str  # cal_…
    platform_calendar_id: str
    email: str

    async def sync(self, context: AppContext, *, evaluate: bool = True) -> None:
        """Sync this calendar (sync_once may claim other due calendars and skip this one while a push receiver
        holds its row: then again), then evaluate what the sync queued."""
        before = (await calendar_row(context, self.id)).last_attempted_sync_at
        for _ in range(20):
            await sync_once(context, self.id)
            if (await calendar_row(context, self.id)).last_attempted_sync_at != before:
                break
        else:
            raise AssertionError(f"{self.id} was never synced")
        if evaluate:
            await evaluate_all(context)


async def calendar(
    control: EmulatorControl, tenant: Tenant, email: str, *, platform: str = "google", **extra: Any
) -> Cal:
    account = await control.create_account(platform, email=email)
    # Google calendars are connected by their id (the owner's address); Graph ones as the default calendar.
    if platform == "google":
        extra = {"platform_uuid": account["primary_calendar_id"], **extra}
    connected = await connect_calendar(tenant, account, **extra)
    return Cal(account, connected["id"], account["primary_calendar_id"], email)


async def invite(
    control: EmulatorControl,
    cal: Cal,
    start: datetime,
    *,
    uid: str = "standup-1@acme.test",
    meeting_url: str | None = MEET,
    organizer: str = "org@acme.test",
    attendees: list[dict[str, Any]] | None = None,
    summary: str = "Design review",
    minutes: int = 30,
    **fields: Any,
) -> dict[str, Any]:
    """This calendar's copy of an invitation: the same iCalUID, link, organizer and guests on every calendar."""
    guests = attendees if attendees is not None else default_guests()
    return await control.create_event(
        cal.platform_calendar_id,
        start,
        start + timedelta(minutes=minutes),
        summary=summary,
        meeting_url=meeting_url,
        ical_uid=uid,
        organizer_email=organizer,
        attendees=guests,
        **fields,
    )


def default_guests() -> list[dict[str, Any]]:
    return [
        {"email": "org@acme.test", "name": "Org", "response": "accepted"},
        {"email": "ada@acme.test", "name": "Ada", "response": "accepted"},
        {"email": "bob@acme.test", "name": "Bob", "response": "accepted"},
        {"email": "cy@contoso.test", "name": "Cy", "response": "accepted"},
    ]


async def get(tenant: Tenant, path: str, **params: Any) -> dict[str, Any]:
    response = await tenant.client.get(path, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def all_meetings(tenant: Tenant, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    page = await get(tenant, "/api/v1/meetings", **params)
    for _ in range(100):
        rows.extend(page["results"])
        if not page["next"]:
            return rows
        response = await tenant.client.get(page["next"])
        page = response.json()
    raise AssertionError("unbounded pagination")


async def events_of(tenant: Tenant, cal: Cal) -> list[dict[str, Any]]:
    return await list_events(tenant, cal.id)


async def live_bots(tenant: Tenant) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for state in ("scheduled", "dispatched", "paused"):
        rows.extend((await get(tenant, "/api/v1/bots", state=state))["results"])
    return rows


async def create_rule(tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await tenant.client.post("/api/v1/bot_rules", json={"name": "Record", **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
