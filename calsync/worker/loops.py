"""The work loops a worker process runs. The sync engine, webhook delivery, bot dispatch and meeting evaluation register theirs here."""

from __future__ import annotations

from calsync.bots.dispatch import BotDispatchLoop
from calsync.context import AppContext
from calsync.meetings.backfill import MeetingBackfillLoop
from calsync.meetings.loop import MeetingEvaluationLoop
from calsync.webhooks.delivery_loop import WebhookDeliveryLoop
from calsync.worker.listener import PostgresListener
from calsync.worker.runner import WorkLoop
from calsync.worker.sync_loop import SyncLoop


def build_loops(context: AppContext) -> list[WorkLoop]:
    sync = SyncLoop(context)
    loops: list[WorkLoop] = [sync]
    if not context.db.is_sqlite:
        loops.append(PostgresListener(context.db.url, context.work_signal))
    loops.append(WebhookDeliveryLoop(context))
    loops.append(BotDispatchLoop(context))
    loops.append(MeetingEvaluationLoop(context, defer_to=sync))
    loops.append(MeetingBackfillLoop(context))  # events stored before meetings existed; stops when none is left
    return loops
