"""A worker process SIGKILLed after claiming a delivery, mid-request: another worker delivers it after the lease."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

from calsync.context import AppContext
from calsync.webhooks.delivery_loop import WebhookDeliveryLoop
from tests.support.service import Tenant
from tests.webhooks.support import create_calendar, create_webhook, deliveries, enqueue, running_receiver

ROOT = Path(__file__).resolve().parents[2]


async def test_killed_worker_loses_nothing(context: AppContext, tenant: Tenant, encryption_key: str) -> None:
    async with running_receiver(hang=True) as receiver:
        hook = await create_webhook(tenant, receiver.url)
        calendar = await create_calendar(tenant)
        await enqueue(context, calendar["id"])
        env = {
            **os.environ,
            "CALSYNC_DATABASE_URL": context.settings.resolved_database_url,
            "CALSYNC_ENCRYPTION_KEYS": encryption_key,
            "CALSYNC_WEBHOOK_ALLOW_HTTP": "true",
            "CALSYNC_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "CALSYNC_LOG_LEVEL": "WARNING",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.webhooks.worker_process", cwd=ROOT, env=env
        )
        try:
            await receiver.wait_for(1, seconds=60)  # it claimed, committed, and is mid-request
        finally:
            process.send_signal(signal.SIGKILL)
            await process.wait()
        [row] = await deliveries(context)
        assert row.status == "delivering" and row.lease_owner is not None and row.lease_expires_at is not None
        receiver.hang = False
        receiver.release()

        # A new worker: nothing to do until the dead worker's lease expires, then it delivers.
        loop = WebhookDeliveryLoop(context)
        assert await loop.run_once() == 0
        context.clock = lambda: row.lease_expires_at + timedelta(seconds=1)  # type: ignore[operator]
        assert await loop.run_once() == 1
        await loop.drain()
    [row] = await deliveries(context)
    assert row.status == "succeeded" and row.attempts == 1
    assert [r.headers["webhook-id"] for r in receiver.requests] == [row.idempotency_key] * 2
    log = (await tenant.client.get(f"/api/v1/webhooks/{hook['id']}/deliveries")).json()["results"]
    assert [d["status"] for d in log] == ["succeeded"]
