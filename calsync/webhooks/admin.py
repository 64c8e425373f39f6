"""Operator actions behind `calsync webhooks …` (the CLI works across projects, by public ids)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from calsync.context import AppContext
from calsync.outbound.ssrf import validate_webhook_url
from calsync.store.models import Project, WebhookSubscription
from calsync.store.queries import projects as project_queries
from calsync.webhooks import queries, secret_store
from calsync.webhooks.payloads import TRIGGERS
from calsync.webhooks.serializers import issued_secret_json


class AdminError(Exception):
    """A refusal with a message for the operator."""


@dataclass(frozen=True)
class Created:
    webhook_id: str
    secret: dict[str, object] | None  # the project's first secret, shown once


async def create_webhook(
    context: AppContext, project_object_id: str, url: str, triggers: list[str], *, active: bool = True
) -> Created:
    settings = context.settings
    error = validate_webhook_url(url, settings.webhook_allow_http, allow_private=settings.webhook_allow_private_targets)
    if error:
        raise AdminError(error)
    unknown = [t for t in triggers if t not in TRIGGERS]
    if unknown or not triggers:
        raise AdminError(f"triggers must be among {', '.join(TRIGGERS)}")
    now = context.clock()
    async with context.db.write() as session:
        project = await project_queries.get_project(session, project_object_id)
        if project is None:
            raise AdminError(f"no project {project_object_id}")
        try:
            subscription = await queries.create_subscription(
                session, project.id, url=url, triggers=list(dict.fromkeys(triggers)), is_active=active, now=now
            )
        except queries.DuplicateUrl:
            raise AdminError("this project already has a webhook with this URL") from None
        except queries.TooManyWebhooks:
            raise AdminError(f"a project can have at most {queries.MAX_WEBHOOKS_PER_PROJECT} webhooks") from None
        issued = await secret_store.ensure_secret(session, context.secrets, project.id, now)
    return Created(subscription.object_id, issued_secret_json(issued.row, issued.secret) if issued else None)


async def list_webhooks(context: AppContext, project_object_id: str | None) -> list[tuple[str, str, str, str, str]]:
    """(webhook id, project id, url, triggers, state) rows."""
    stmt = (
        select(WebhookSubscription, Project.object_id)
        .join(Project, Project.id == WebhookSubscription.project_id)
        .order_by(WebhookSubscription.id)
    )
    if project_object_id is not None:
        stmt = stmt.where(Project.object_id == project_object_id)
    async with context.db.read() as session:
        rows = (await session.execute(stmt)).all()
    result = []
    for subscription, project_id in rows:
        state = "inactive" if not subscription.is_active else "failing" if subscription.failing_since else "healthy"
        result.append((subscription.object_id, project_id, subscription.url, ",".join(subscription.triggers), state))
    return result


async def delete_webhook(context: AppContext, webhook_object_id: str) -> bool:
    async with context.db.write() as session:
        subscription = (
            await session.execute(select(WebhookSubscription).where(WebhookSubscription.object_id == webhook_object_id))
        ).scalar_one_or_none()
        if subscription is None:
            return False
        await session.delete(subscription)
    return True


async def rotate_secret(context: AppContext, project_object_id: str, overlap: timedelta) -> dict[str, object]:
    async with context.db.write() as session:
        project = await project_queries.get_project(session, project_object_id)
        if project is None:
            raise AdminError(f"no project {project_object_id}")
        issued = await secret_store.rotate_secret(session, context.secrets, project.id, context.clock(), overlap)
    return issued_secret_json(issued.row, issued.secret)
