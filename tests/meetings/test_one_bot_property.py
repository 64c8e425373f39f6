"""Property: whatever order a meeting's member events arrive in (calendars synced in any order, evaluations run
after every sync or only at the end, copies declined or moved on the way), the meeting ends with at most one live
bot, and with exactly one when a member still matches (both databases, against the emulator)."""

from __future__ import annotations

import itertools
from datetime import timedelta

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from calsync.context import AppContext
from calsync.meetings.loop import evaluate_all
from calsync.store.models import Bot
from calsync.store.models.bot import LIVE_STATES
from calsync_emulator.client import EmulatorControl
from tests.bots.support import tomorrow
from tests.meetings.support import calendar, create_rule, default_guests, invite
from tests.support.service import Tenant

_examples = itertools.count()


# Each example syncs three calendars: few examples, and no shrinking or explaining (each would re-run syncs).
@settings(
    max_examples=8,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    order=st.permutations([0, 1, 2]),
    evaluate_each=st.lists(st.booleans(), min_size=3, max_size=3),
    declined=st.lists(st.booleans(), min_size=3, max_size=3),
    platforms=st.lists(st.sampled_from(["google", "microsoft"]), min_size=3, max_size=3),
)
async def test_a_meeting_ends_with_at_most_one_live_bot(
    control: EmulatorControl,
    context: AppContext,
    tenant: Tenant,
    order: list[int],
    evaluate_each: list[bool],
    declined: list[bool],
    platforms: list[str],
) -> None:
    n = next(_examples)
    if not (await tenant.client.get("/api/v1/bot_rules")).json()["results"]:
        await create_rule(tenant)  # (once per database: the examples share the test's project)
    start = tomorrow() + timedelta(hours=n)
    url = "https://meet.google.com/abc-defg-" + "".join(chr(ord("a") + int(d)) for d in f"{n:03d}")
    emails = [f"u{n}-{i}@acme.test" for i in range(3)]
    guests = [*default_guests(), *({"email": e, "response": "accepted"} for e in emails)]
    cals = [await calendar(control, tenant, email, platform=p) for email, p in zip(emails, platforms, strict=True)]
    for i in order:
        mine = [{**g, "response": "declined"} if g["email"] == emails[i] and declined[i] else g for g in guests]
        await invite(control, cals[i], start, uid=f"p{n}@x", meeting_url=url, attendees=mine)
        await cals[i].sync(context, evaluate=evaluate_each[i])
    for cal in cals:
        await cal.sync(context, evaluate=False)
    await evaluate_all(context)
    async with context.db.read() as session:
        per_meeting = (
            await session.execute(
                select(Bot.meeting_object_id, func.count())
                .where(Bot.project_id == tenant.project_id, Bot.state.in_(LIVE_STATES))
                .group_by(Bot.meeting_object_id)
            )
        ).all()
    assert all(count <= 1 for _, count in per_meeting), per_meeting
    meetings = (await tenant.client.get("/api/v1/meetings", params={"start_time_gte": start.isoformat()})).json()
    [meeting] = [m for m in meetings["results"] if m["meeting_url"] == url]
    assert (meeting["bot"] is not None) == (not all(declined))
    assert meeting["decision"]["bot"] == (not all(declined))
