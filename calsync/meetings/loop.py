"""The worker loop that evaluates queued meetings (calsync.meetings.evaluate), a batch per short transaction."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from calsync.context import AppContext
from calsync.meetings.evaluate import BATCH_SIZE, Evaluated, evaluate_batch


class MeetingEvaluationLoop:
    """Woken by the work signal (a sync page or a rule change queued meetings) and by the poll interval."""

    name = "meeting_evaluation"

    def __init__(self, context: AppContext, *, batch_size: int = BATCH_SIZE) -> None:
        self.context = context
        self.batch_size = batch_size

    async def run_once(self) -> int:
        settings = self.context.settings

        async def body(session: AsyncSession) -> Evaluated:
            return await evaluate_batch(
                session,
                self.context.clock(),
                stand_down=timedelta(seconds=settings.bot_stand_down_seconds),
                default_lead=settings.bot_dispatch_lead_seconds,
                limit=self.batch_size,
            )

        result = await self.context.db.write_retrying(body, what="evaluate_meetings")
        if result.wake:
            self.context.work_signal.kick()  # new due bots, webhooks to deliver
        return result.meetings


async def evaluate_all(context: AppContext) -> int:
    """Evaluate until the queue is empty (tests, benchmarks, the CLI): the meetings evaluated."""
    loop = MeetingEvaluationLoop(context)
    total = 0
    while handled := await loop.run_once():
        total += handled
    return total
