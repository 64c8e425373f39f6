"""The README's receiver verifies what the delivery loop really sends (real clock, real socket)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from calsync.context import AppContext
from calsync.webhooks.delivery_loop import WebhookDeliveryLoop
from tests.support.service import Tenant
from tests.webhooks.support import create_calendar, create_webhook, enqueue, running_receiver

README = Path(__file__).parents[2] / "README.md"


def readme_verify() -> Any:
    section = README.read_text().split("## Webhooks", 1)[1].split("\n## ", 1)[0]
    [snippet] = re.findall(r"```python\n(.*?)```", section, re.S)
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)
    return namespace["verify"]


async def test_readme_receiver_verifies_a_real_delivery(context: AppContext, tenant: Tenant) -> None:
    verify = readme_verify()
    async with running_receiver() as receiver:
        hook = await create_webhook(tenant, receiver.url)
        calendar = await create_calendar(tenant)
        await enqueue(context, calendar["id"])
        loop = WebhookDeliveryLoop(context)
        assert await loop.run_once() == 1
        await loop.drain()
    [request] = receiver.requests
    for secret in (hook["signing_secret"]["secret"], hook["signing_secret"]["secret_whsec"]):
        payload = verify(secret, request.headers, request.body)
        assert payload["calendar_id"] == calendar["id"] and payload["trigger"] == "calendar.events_update"
