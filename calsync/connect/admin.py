"""Operator actions on a project's connect settings, by the project's public id (the CLI and the dashboard)."""

from __future__ import annotations

from typing import Any

from pydantic_core import PydanticCustomError

from calsync.connect import settings_store as store
from calsync.connect.schemas import MAX_RETURN_URLS, check_return_url
from calsync.context import AppContext
from calsync.store.queries import projects as project_queries


class AdminError(Exception):
    pass


def checked_return_urls(urls: list[str]) -> list[str]:
    cleaned = [url.strip() for url in urls if url.strip()]
    if len(cleaned) > MAX_RETURN_URLS:
        raise AdminError(f"at most {MAX_RETURN_URLS} return URLs")
    for url in cleaned:
        try:
            check_return_url(url)
        except PydanticCustomError as exc:
            raise AdminError(f"{url}: {exc.message()}") from None
    return cleaned


async def _project_id(context: AppContext, project_object_id: str) -> int:
    async with context.db.read() as session:
        project = await project_queries.get_project(session, project_object_id)
    if project is None:
        raise AdminError(f"no project {project_object_id}")
    return project.id


async def show(context: AppContext, project_object_id: str) -> dict[str, Any]:
    project_id = await _project_id(context, project_object_id)
    async with context.db.read() as session:
        return store.settings_json(await store.load(session, project_id), context.settings)


async def change(
    context: AppContext,
    project_object_id: str,
    *,
    apps: dict[str, tuple[str, str] | bool | None] | None = None,
    return_urls: list[str] | None = None,
) -> dict[str, Any]:
    """Set (client id, secret) or remove (False) a platform's app, and/or replace the return URLs."""
    project_id = await _project_id(context, project_object_id)
    for platform in apps or {}:
        if platform not in store.PLATFORMS:
            raise AdminError(f"platform must be one of {', '.join(store.PLATFORMS)}")
    urls = checked_return_urls(return_urls) if return_urls is not None else None
    async with context.db.write() as session:
        row = await store.update(
            session,
            project_id,
            store.SettingsChange(apps=apps or {}, return_urls=urls),
            context.secrets,
            context.clock(),
        )
        return store.settings_json(row, context.settings)
