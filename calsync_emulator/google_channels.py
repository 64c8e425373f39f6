"""Google push channels: events.watch opens one on a calendar (sending the `sync` message), channels.stop ends it.
notifications.py delivers their messages."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response

from calsync_emulator.errors import ApiError, google_bad_request, google_error
from calsync_emulator.fields import PartialResponseRoute
from calsync_emulator.gate import emulator_state
from calsync_emulator.google_api import google_account, google_calendar
from calsync_emulator.jsonio import JSONResponse
from calsync_emulator.model import Account, GoogleChannel
from calsync_emulator.push_registry import resource_id_of
from calsync_emulator.state import EmulatorState

router = APIRouter(route_class=PartialResponseRoute)


@router.post("/calendars/{calendar_id}/events/watch")
async def events_watch(
    request: Request,
    calendar_id: str,
    account: Account = Depends(google_account),
    state: EmulatorState = Depends(emulator_state),
) -> JSONResponse:
    cal = google_calendar(state, account, calendar_id)
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(google_bad_request("Parse Error")) from None
    if not isinstance(body, dict):
        raise ApiError(google_bad_request("Parse Error"))
    channel_id, address, kind = body.get("id"), body.get("address"), body.get("type")
    if not isinstance(channel_id, str) or not channel_id or len(channel_id) > 64:
        raise ApiError(google_error(400, "required", "Required", location="id"))
    if kind not in ("web_hook", "webhook"):
        raise ApiError(google_bad_request(f"Invalid value for: {kind} is not a valid value", "type"))
    if not isinstance(address, str) or not address.startswith(("http://", "https://")):
        raise ApiError(google_error(400, "required", "Required", location="address"))
    if state.config.google_require_https and not address.startswith("https://"):
        raise ApiError(
            google_error(400, "push.webhookUrlNotHttps", "WebHook callback must be HTTPS: " + address, domain="push")
        )
    existing = state.push.channels.get(channel_id)
    if existing is not None and not existing.stopped and existing.expiration > state.now():
        raise ApiError(google_error(400, "channelIdNotUnique", f"Channel id {channel_id} not unique", domain="push"))
    token = body.get("token")
    if token is not None and (not isinstance(token, str) or len(token) > 256):
        raise ApiError(google_bad_request("Invalid channel token", "token"))
    expiration = _channel_expiration(state, body)
    channel = GoogleChannel(
        id=channel_id,
        resource_id=resource_id_of(cal.id),
        resource_uri=f"{str(request.base_url).rstrip('/')}/google/calendar/v3/calendars/{quote(cal.id)}/events?alt=json",
        account_id=account.id,
        client_id=state.grants.client_of(request.headers["authorization"]),
        calendar_id=cal.id,
        address=address,
        token=token,
        expiration=expiration,
    )
    state.push.add_channel(channel)
    request.app.state.notifier.google_sync(channel)
    out: dict[str, Any] = {
        "kind": "api#channel",
        "id": channel.id,
        "resourceId": channel.resource_id,
        "resourceUri": channel.resource_uri,
        "expiration": str(int(expiration.timestamp() * 1000)),
    }
    if token is not None:
        out["token"] = token
    return JSONResponse(out)


def _channel_expiration(state: EmulatorState, body: dict[str, Any]) -> datetime:
    now = state.now()
    params = body.get("params") if isinstance(body.get("params"), dict) else {}
    assert isinstance(params, dict)
    try:
        ttl = int(params.get("ttl", state.config.google_channel_default_ttl_seconds))
    except (TypeError, ValueError):
        raise ApiError(google_bad_request("Invalid ttl", "params.ttl")) from None
    ttl = min(ttl, state.config.google_channel_max_ttl_seconds)
    expiration = now + timedelta(seconds=ttl)
    requested = body.get("expiration")
    if requested is not None:
        try:
            wanted = datetime.fromtimestamp(int(requested) / 1000, tz=now.tzinfo)
        except (TypeError, ValueError, OverflowError):
            raise ApiError(google_bad_request("Invalid expiration", "expiration")) from None
        if wanted <= now:
            raise ApiError(google_bad_request("Channel expiration is in the past.", "expiration"))
        expiration = min(expiration, wanted)  # the more restrictive of request and limits wins
    return expiration.replace(microsecond=(expiration.microsecond // 1000) * 1000)


@router.post("/channels/stop")
async def channels_stop(
    request: Request, account: Account = Depends(google_account), state: EmulatorState = Depends(emulator_state)
) -> Response:
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(google_bad_request("Parse Error")) from None
    channel = state.push.channels.get(body.get("id", "")) if isinstance(body, dict) else None
    if (
        channel is None
        or channel.stopped
        or channel.resource_id != body.get("resourceId")
        or channel.account_id != account.id
        or channel.client_id
        != state.grants.client_of(request.headers["authorization"])  # only the creating user *and* client may stop it
    ):
        channel_id = body.get("id") if isinstance(body, dict) else None
        raise ApiError(google_error(404, "notFound", f"Channel '{channel_id}' not found for project 'emulator'"))
    channel.stopped = True
    return Response(status_code=204)
