"""Microsoft Graph subscriptions: create (with the validation handshake), list, get, renew, delete, reauthorize.

A subscription covers one calendar's events (`/me/events`, `/me/calendar/events`, `/me/calendars/{id}/events` or
the `/users/{id}` forms); notifications.py delivers its notifications."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from calsync_emulator import render_graph
from calsync_emulator.errors import ApiError, graph_error
from calsync_emulator.gate import emulator_state
from calsync_emulator.graph_api import check_mailbox, graph_account, service_root
from calsync_emulator.jsonio import JSONResponse
from calsync_emulator.model import Account, Calendar, GraphSubscription
from calsync_emulator.notifications import Notifier
from calsync_emulator.state import EmulatorState
from calsync_emulator.timeutil import parse_graph_datetime

router = APIRouter()


def _resource_calendar(state: EmulatorState, account: Account, resource: str) -> Calendar | None:
    parts = resource.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    if lowered[:1] == ["me"]:
        rest, rest_raw = lowered[1:], parts[1:]
    elif lowered[:1] == ["users"] and len(parts) > 1 and lowered[1] in (account.user_id, account.email.lower()):
        rest, rest_raw = lowered[2:], parts[2:]
    else:
        return None
    if rest in (["events"], ["calendar", "events"]):
        return state.directory.calendar(account.primary_calendar_id, events=False)
    if len(rest) == 3 and rest[0] == "calendars" and rest[2] == "events" and rest_raw[1] in account.calendars:
        return state.directory.calendar(rest_raw[1], events=False)
    return None


def _expiration(state: EmulatorState, value: Any) -> datetime:
    now = state.now()
    try:
        expiration = parse_graph_datetime(str(value))
    except ValueError:
        raise ApiError(graph_error(400, "InvalidRequest", "expirationDateTime is invalid.", now)) from None
    config = state.config
    if expiration <= now:
        raise ApiError(graph_error(400, "InvalidRequest", "Subscription expiration must be in the future.", now))
    if expiration > now + timedelta(minutes=config.graph_subscription_max_minutes):
        raise ApiError(
            graph_error(
                400,
                "InvalidRequest",
                f"Subscription expiration can only be {config.graph_subscription_max_minutes} minutes in the future.",
                now,
            )
        )
    return max(expiration, now + timedelta(minutes=config.graph_subscription_min_minutes))


def _owned(state: EmulatorState, account: Account, subscription_id: str) -> GraphSubscription:
    sub = state.push.subscriptions.get(subscription_id)
    if sub is None or sub.account_id != account.id or sub.expiration <= state.now():
        raise ApiError(
            graph_error(404, "ResourceNotFound", f"The object '{subscription_id}' was not found.", state.now())
        )
    return sub


@router.post("/subscriptions")
async def subscription_create(
    request: Request, account: Account = Depends(graph_account), state: EmulatorState = Depends(emulator_state)
) -> JSONResponse:
    now = state.now()
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ApiError(graph_error(400, "InvalidRequest", "Invalid request body.", now))
    change_types = frozenset(t.strip() for t in str(body.get("changeType", "")).split(",") if t.strip())
    if not change_types or not change_types <= {"created", "updated", "deleted"}:
        raise ApiError(graph_error(400, "InvalidRequest", "changeType is invalid.", now))
    url, lifecycle = body.get("notificationUrl"), body.get("lifecycleNotificationUrl")
    for value in (url, lifecycle):
        if value is not None and (not isinstance(value, str) or not value.startswith(("http://", "https://"))):
            raise ApiError(graph_error(400, "InvalidRequest", "The notification URL is invalid.", now))
    if not url:
        raise ApiError(graph_error(400, "InvalidRequest", "notificationUrl is required.", now))
    client_state = body.get("clientState")
    if client_state is not None and (not isinstance(client_state, str) or len(client_state) > 128):
        raise ApiError(graph_error(400, "InvalidRequest", "clientState must be at most 128 characters.", now))
    check_mailbox(state, account)
    cal = _resource_calendar(state, account, str(body.get("resource", "")))
    if cal is None:
        raise ApiError(graph_error(400, "InvalidRequest", f"Resource '{body.get('resource')}' is not supported.", now))
    expiration = _expiration(state, body.get("expirationDateTime"))
    notifier: Notifier = request.app.state.notifier
    for target in (url, lifecycle):
        if target:
            problem = await notifier.validate(target, account.id)
            if problem is not None:
                raise ApiError(
                    graph_error(
                        400,
                        "ValidationError",
                        "Subscription validation request failed. Notification endpoint must "
                        f"respond with 200 OK to validation request. ({problem})",
                        state.now(),
                    )
                )
    sub = GraphSubscription(
        id=str(uuid.uuid4()),
        account_id=account.id,
        client_id=state.grants.client_of(request.headers["authorization"]),
        resource=str(body["resource"]),
        calendar_id=cal.id,
        change_types=change_types,
        notification_url=url,
        lifecycle_url=lifecycle,
        client_state=client_state,
        expiration=expiration,
        created=now,
        tls_version=str(body.get("latestSupportedTlsVersion") or "v1_2"),
    )
    state.push.add_subscription(sub)
    context = {"@odata.context": f"{service_root(request)}/$metadata#subscriptions/$entity"}
    return JSONResponse({**context, **render_graph.subscription(sub, account)}, status_code=201)


@router.get("/subscriptions")
async def subscription_list(
    request: Request, account: Account = Depends(graph_account), state: EmulatorState = Depends(emulator_state)
) -> JSONResponse:
    client_id = state.grants.client_of(request.headers["authorization"])
    now = state.now()
    subs = [s for s in state.push.subscriptions.values() if s.client_id == client_id and s.expiration > now]
    return JSONResponse(
        {
            "@odata.context": f"{service_root(request)}/$metadata#subscriptions",
            "value": [render_graph.subscription(s, state.accounts[s.account_id]) for s in subs],
        }
    )


@router.get("/subscriptions/{subscription_id}")
async def subscription_get(
    request: Request,
    subscription_id: str,
    account: Account = Depends(graph_account),
    state: EmulatorState = Depends(emulator_state),
) -> JSONResponse:
    return JSONResponse(render_graph.subscription(_owned(state, account, subscription_id), account))


@router.patch("/subscriptions/{subscription_id}")
async def subscription_renew(
    request: Request,
    subscription_id: str,
    account: Account = Depends(graph_account),
    state: EmulatorState = Depends(emulator_state),
) -> JSONResponse:
    sub = _owned(state, account, subscription_id)
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "expirationDateTime" not in body:
        raise ApiError(graph_error(400, "InvalidRequest", "expirationDateTime is required.", state.now()))
    sub.expiration = _expiration(state, body["expirationDateTime"])
    return JSONResponse(render_graph.subscription(sub, account))


@router.delete("/subscriptions/{subscription_id}")
async def subscription_delete(
    subscription_id: str, account: Account = Depends(graph_account), state: EmulatorState = Depends(emulator_state)
) -> Response:
    sub = _owned(state, account, subscription_id)
    state.push.remove_subscription(sub)
    return Response(status_code=204)


@router.post("/subscriptions/{subscription_id}/reauthorize")
async def subscription_reauthorize(
    subscription_id: str, account: Account = Depends(graph_account), state: EmulatorState = Depends(emulator_state)
) -> Response:
    _owned(state, account, subscription_id)
    return Response(status_code=204)
