"""The work loops a worker process runs. The sync engine and webhook delivery register theirs here."""

from __future__ import annotations

from calsync.context import AppContext
from calsync.worker.runner import WorkLoop


def build_loops(context: AppContext) -> list[WorkLoop]:
    return []
