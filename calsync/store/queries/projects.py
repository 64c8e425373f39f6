"""Projects and their API keys (administered from the CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.ids import new_id
from calsync.security.api_keys import generate_api_key, hash_api_key
from calsync.store.models import ApiKey, Project


async def create_project(session: AsyncSession, name: str, now: datetime) -> Project:
    project = Project(object_id=new_id("proj_"), name=name, created_at=now, change_seq=0)
    session.add(project)
    await session.flush()
    return project


async def count_projects(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count(Project.id)))).scalar_one())


async def list_projects(session: AsyncSession) -> list[Project]:
    return list((await session.execute(select(Project).order_by(Project.id))).scalars().all())


async def get_project(session: AsyncSession, object_id: str) -> Project | None:
    return (await session.execute(select(Project).where(Project.object_id == object_id))).scalar_one_or_none()


@dataclass(frozen=True)
class IssuedKey:
    row: ApiKey
    key: str  # shown once, never stored


async def create_api_key(session: AsyncSession, project: Project, name: str, now: datetime) -> IssuedKey:
    key = generate_api_key()
    row = ApiKey(
        object_id=new_id("key_"),
        project_id=project.id,
        name=name,
        key_hash=hash_api_key(key),
        key_prefix=key[:4],
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return IssuedKey(row=row, key=key)


async def list_api_keys(session: AsyncSession, project: Project | None = None) -> list[ApiKey]:
    stmt = select(ApiKey).order_by(ApiKey.id)
    if project is not None:
        stmt = stmt.where(ApiKey.project_id == project.id)
    return list((await session.execute(stmt)).scalars().all())


async def revoke_api_key(session: AsyncSession, object_id: str, now: datetime) -> ApiKey | None:
    row = (await session.execute(select(ApiKey).where(ApiKey.object_id == object_id))).scalar_one_or_none()
    if row is not None and row.revoked_at is None:
        row.revoked_at = now
    return row
