"""examples/bot_runner.py against calsync's real dispatch and delivery: it launches on `bot.dispatch` (signatures
verified) and stands the bot down on cancellation; repeats and overtaken webhooks are ignored."""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

from calsync.bots.dispatch import BotDispatchLoop
from calsync.context import AppContext
from calsync.webhooks.delivery_loop import WebhookDeliveryLoop
from tests.bots.support import BOT_TRIGGERS, MEET, create_bot, subscribe
from tests.support.service import Tenant, free_port
from tests.webhooks.conftest import settings  # noqa: F401 - webhooks to 127.0.0.1 allowed

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bot_runner", EXAMPLES / "bot_runner.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


async def deliver(context: AppContext) -> None:
    loop = WebhookDeliveryLoop(context)
    while await loop.run_once():
        pass
    await loop.drain()


async def test_the_runner_launches_on_dispatch_and_stands_down_on_cancel(context: AppContext, tenant: Tenant) -> None:
    script = load()
    runner = script.Runner()
    port = free_port()
    hook = await subscribe(tenant, f"http://127.0.0.1:{port}/bots", BOT_TRIGGERS)
    server = script.serve(port, hook["signing_secret"]["secret"], runner)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        bot = await create_bot(tenant, meeting_url=MEET, bot_name="Scribe")
        assert await BotDispatchLoop(context).run_once() == 1
        await deliver(context)
        assert list(runner.running) == [bot["id"]]
        assert runner.log[0].startswith(f"launch {bot['id']} (Scribe) into a meeting")
        await tenant.client.delete(f"/api/v1/bots/{bot['id']}")
        await deliver(context)
        assert runner.running == {}
        assert runner.log[-1] == f"stand down {bot['id']}: cancelled (cancelled_by_request)"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def payload(key: str, trigger: str, state: str, updated_at: str, **data: Any) -> dict[str, Any]:
    bot = {"id": "bot_a", "state": state, "updated_at": updated_at, "bot_name": None, "meeting_url": MEET,
           "join_at": "2026-01-01T10:00:00.000000Z"}  # fmt: skip
    return {"idempotency_key": key, "trigger": trigger, "bot_id": "bot_a", "data": {"bot": bot, **data}}


def test_repeats_and_overtaken_webhooks_are_ignored() -> None:
    runner = load().Runner()
    cancelled = payload("k2", "bot.state_change", "cancelled", "2026-01-01T09:59:00.000002Z",
                        state_reason={"code": "event_cancelled"})  # fmt: skip
    launch = payload("k1", "bot.dispatch", "dispatched", "2026-01-01T09:58:00.000001Z", event=None)
    runner.handle(launch)
    runner.handle(launch)  # at least once: the same delivery again
    assert list(runner.running) == ["bot_a"] and len(runner.log) == 1
    runner.handle(cancelled)
    assert runner.running == {}
    runner.handle(payload("k3", "bot.dispatch", "dispatched", "2026-01-01T09:58:00.000001Z", event=None))
    assert runner.running == {} and runner.log[-1].endswith("is stale: ignored")
