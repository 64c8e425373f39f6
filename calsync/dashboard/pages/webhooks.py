"""Webhooks: subscriptions with their health, the delivery log (status, attempts, response excerpts), retrying a
delivery, and rotating the signing secret (the new secret is shown once, on the response to the rotation)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from calsync.dashboard import queries
from calsync.dashboard.session import Operator
from calsync.dashboard.web import (
    DashboardError,
    checked_form,
    not_found,
    page_links,
    redirect,
    render,
    signed_in,
    state_of,
)
from calsync.store.work_signal import notify_work_in_transaction
from calsync.web.pagination import decode_cursor, seek_key
from calsync.webhooks import queries as webhook_queries
from calsync.webhooks import secret_store
from calsync.webhooks.payloads import TRIGGERS
from calsync.webhooks.signing import secret_to_base64, secret_to_whsec

router = APIRouter()

DELIVERY_PAGE_SIZE = 25  # as the API's delivery log
DELIVERIES_ORDERING = "-created_at"
RECENT_SHOWN = 25


def _delivery_filters(request: Request) -> webhook_queries.DeliveryFilters:
    status = request.query_params.get("status") or None
    trigger = request.query_params.get("trigger") or None
    return webhook_queries.DeliveryFilters(
        status=status if status in queries.DELIVERY_STATUSES else None,
        trigger=trigger if trigger in TRIGGERS else None,
    )


@router.get("/webhooks")
async def webhooks_page(request: Request, operator: Annotated[Operator, Depends(signed_in)]) -> Response:
    state = state_of(request)
    now = state.context.clock()
    filters = _delivery_filters(request)
    async with state.context.db.read() as session:
        health = await queries.webhook_health(session, operator.project_id, now)
        recent = await queries.recent_deliveries(session, [h.subscription for h in health], filters, RECENT_SHOWN)
        secrets = await secret_store.active_secrets(session, operator.project_id, now)
    keys = secret_store.decrypt_all(state.context.secrets, secrets)
    return render(
        request,
        "webhooks.html",
        title="Webhooks",
        now=now,
        health=health,
        statuses=queries.DELIVERY_STATUSES,
        triggers=TRIGGERS,
        filters=filters,
        recent=recent,
        changes_of=queries.delivery_changes,
        # Fingerprints only: the key itself is shown once, when it is created.
        secrets=[(row, secret_store.fingerprint(key)) for row, key in zip(secrets, keys, strict=True)],
        issued=None,
    )


@router.get("/webhooks/{object_id}")
async def webhook_page(request: Request, object_id: str, operator: Annotated[Operator, Depends(signed_in)]) -> Response:
    state = state_of(request)
    now = state.context.clock()
    filters = _delivery_filters(request)
    cursor = decode_cursor(request.query_params.get("cursor"), DELIVERIES_ORDERING)
    async with state.context.db.read() as session:
        subscription = await webhook_queries.get_subscription(session, operator.project_id, object_id)
        if subscription is None:
            raise not_found("Webhook")
        page = await webhook_queries.list_deliveries(
            session,
            subscription.id,
            filters,
            after=seek_key(cursor),
            backwards=cursor.backwards if cursor else False,
            limit=DELIVERY_PAGE_SIZE,
        )
        health = next(
            h
            for h in await queries.webhook_health(session, operator.project_id, now)
            if h.subscription.id == subscription.id
        )
    next_link, previous_link = page_links(request, page, DELIVERIES_ORDERING)
    return render(
        request,
        "webhook.html",
        title=f"Webhook {subscription.object_id}",
        now=now,
        webhook=health,
        rows=[(delivery, subscription) for delivery in page.rows],
        statuses=queries.DELIVERY_STATUSES,
        triggers=TRIGGERS,
        filters=filters,
        changes_of=queries.delivery_changes,
        next_link=next_link,
        previous_link=previous_link,
    )


@router.get("/deliveries/{object_id}")
async def delivery_page(
    request: Request, object_id: str, operator: Annotated[Operator, Depends(signed_in)]
) -> Response:
    state = state_of(request)
    async with state.context.db.read() as session:
        found = await webhook_queries.get_delivery(session, operator.project_id, object_id)
        if found is None:
            raise not_found("Delivery")
        delivery, webhook_object_id = found
        attempts = await webhook_queries.list_attempts(session, delivery.id)
    return render(
        request,
        "delivery.html",
        title=f"Delivery {delivery.object_id}",
        now=state.context.clock(),
        delivery=delivery,
        webhook_object_id=webhook_object_id,
        attempts=attempts,
        changes=queries.delivery_changes(delivery.data),
        data_json=json.dumps(delivery.data, indent=2, ensure_ascii=False, sort_keys=True),
        can_retry=delivery.status != "delivering",
    )


@router.post("/deliveries/{object_id}/retry")
async def retry_delivery(
    request: Request, object_id: str, operator: Annotated[Operator, Depends(signed_in)]
) -> Response:
    """As `POST /api/v1/webhook_deliveries/{id}/retry`: due now, same idempotency key, a fresh retry horizon."""
    await checked_form(request, operator)
    context = state_of(request).context
    try:
        async with context.db.write() as session:
            found = await webhook_queries.get_delivery(session, operator.project_id, object_id, for_update=True)
            if found is None:
                raise not_found("Delivery")
            webhook_queries.requeue(found[0], context.clock())
            await notify_work_in_transaction(session)
    except webhook_queries.DeliveryInProgress:
        raise DashboardError(
            409, "Being delivered", "A worker is attempting this delivery right now; wait for the outcome."
        ) from None
    context.work_signal.kick()
    return redirect(request, f"/deliveries/{object_id}", notice="delivery_requeued")


@router.post("/webhook-secret/rotate")
async def rotate_secret(request: Request, operator: Annotated[Operator, Depends(signed_in)]) -> Response:
    """As `POST /api/v1/webhook_secret/rotate` with the default overlap: the new secret is in this response only
    (never cached: every dashboard response is `no-store`); the previous one keeps signing for 72 hours."""
    await checked_form(request, operator)
    state = state_of(request)
    context = state.context
    async with context.db.write() as session:
        issued = await secret_store.rotate_secret(session, context.secrets, operator.project_id, context.clock())
    now = context.clock()
    async with context.db.read() as session:
        health = await queries.webhook_health(session, operator.project_id, now)
        secrets = await secret_store.active_secrets(session, operator.project_id, now)
    keys = secret_store.decrypt_all(context.secrets, secrets)
    return render(
        request,
        "webhooks.html",
        title="Webhooks",
        now=now,
        health=health,
        statuses=queries.DELIVERY_STATUSES,
        triggers=TRIGGERS,
        filters=webhook_queries.DeliveryFilters(),
        recent=[],
        changes_of=queries.delivery_changes,
        secrets=[(row, secret_store.fingerprint(key)) for row, key in zip(secrets, keys, strict=True)],
        issued={
            "id": issued.row.object_id,
            "fingerprint": secret_store.fingerprint(issued.secret),
            "secret": secret_to_base64(issued.secret),
            "secret_whsec": secret_to_whsec(issued.secret),
            "previous_expire_in": secret_store.ROTATION_OVERLAP,
        },
    )
