"""First start: an empty database gets a default project and an API key, printed once and saved 0600."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from calsync.context import AppContext
from calsync.store.queries import projects as project_queries

API_KEY_FILE = "api-key"


@dataclass(frozen=True)
class FirstRun:
    project_id: str
    api_key: str
    saved_to: Path


async def ensure_default_project(context: AppContext) -> FirstRun | None:
    async with context.db.write() as session:
        if await project_queries.count_projects(session) > 0:
            return None
        now = context.clock()
        project = await project_queries.create_project(session, "default", now)
        issued = await project_queries.create_api_key(session, project, "default", now)
    path = save_key(context.settings.data_dir, issued.key)
    return FirstRun(project_id=project.object_id, api_key=issued.key, saved_to=path)


def save_key(data_dir: Path, key: str) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = (data_dir / API_KEY_FILE).resolve()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    os.chmod(path, 0o600)
    return path
