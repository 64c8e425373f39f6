"""A project's extra internal domains: email domains that bot rules' `internal` / `external` selections count as
internal besides each calendar owner's own (docs/bots.md, "Rules"). Set through the API and the CLI alike."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from calsync.meetings import queue
from calsync.store.models import Project

MAX_DOMAINS = 100


def normalized(domains: Iterable[str]) -> list[str]:
    """Lower-cased, without a leading `@`, each once, sorted: as `owner.domain_of` reads an address's domain."""
    return sorted({domain.strip().lower().removeprefix("@") for domain in domains if domain.strip()})


def internal_domains(project: Project) -> list[str]:
    return [str(domain) for domain in project.internal_domains or ()]


async def set_internal_domains(session: AsyncSession, project: Project, domains: Iterable[str], now: datetime) -> int:
    """Store the list; when it changed, the meetings of the window are re-evaluated in the background (their
    decisions may change). Returns the meetings queued."""
    cleaned = normalized(domains)
    if cleaned == internal_domains(project):
        return 0
    queued = await queue.enqueue_window(session, project.id, None, now)
    # Written last: on SQLite the project row is also the change clock of its syncs, held only for the commit.
    project.internal_domains = cleaned or None
    return queued
