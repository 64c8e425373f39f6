"""A webhook delivery worker in its own process, for the kill test: `python -m tests.webhooks.worker_process`.

Settings come from CALSYNC_* variables. It runs only the delivery loop (not the sync loop), forever.
"""

from __future__ import annotations

import asyncio

from calsync.context import AppContext
from calsync.settings import Settings
from calsync.webhooks.delivery_loop import WebhookDeliveryLoop


async def main() -> None:
    context = AppContext.from_settings(Settings())
    loop = WebhookDeliveryLoop(context)
    while True:
        if not await loop.run_once():
            await asyncio.sleep(0.05)


if __name__ == "__main__":
    asyncio.run(main())
