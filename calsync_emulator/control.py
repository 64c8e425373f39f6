"""The control API under /_emulator: drive the emulated world from tests, benchmarks and scripts.

Not part of either platform; never counted in the request log. Errors are `{"detail": ...}` with
400 (bad input), 404 (unknown id) or 409 (already exists).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from calsync_emulator.control_bodies import (
    AccountIn,
    AccountPatch,
    AdvanceIn,
    CalendarIn,
    EventIn,
    EventPatch,
    ExpireSyncIn,
    FaultIn,
    LifecycleIn,
    MoveIn,
    PushCopyIn,
    RevokeIn,
    SeedIn,
)
from calsync_emulator.control_out import account_out, calendar_out, event_out
from calsync_emulator.directory import CalendarSpec
from calsync_emulator.faults import FaultRule
from calsync_emulator.gate import emulator_state
from calsync_emulator.model import Calendar, Platform
from calsync_emulator.notifications import Notifier
from calsync_emulator.oauth import GOOGLE_GRANT_ERRORS, MICROSOFT_GRANT_ERRORS
from calsync_emulator.seeding import SeedParams, seed_population
from calsync_emulator.state import EmulatorState
from calsync_emulator.timeutil import TimeValue, parse_time_value, zone

router = APIRouter(prefix="/_emulator")


def _notifier(request: Request) -> Notifier:
    notifier: Notifier = request.app.state.notifier
    return notifier


# --- world ---------------------------------------------------------------------------------------------------


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.post("/reset")
async def reset(request: Request, state: EmulatorState = Depends(emulator_state)) -> dict[str, str]:
    state.reset()
    _notifier(request).clear()
    return {"status": "reset"}


@router.get("/config")
async def config_get(state: EmulatorState = Depends(emulator_state)) -> dict[str, Any]:
    return state.config.to_dict()


@router.patch("/config")
async def config_patch(changes: dict[str, Any], state: EmulatorState = Depends(emulator_state)) -> dict[str, Any]:
    state.config.update(changes)
    return state.config.to_dict()


@router.get("/clock")
async def clock_get(state: EmulatorState = Depends(emulator_state)) -> dict[str, str]:
    return {"now": state.now().isoformat()}


@router.post("/clock/advance")
async def clock_advance(body: AdvanceIn, state: EmulatorState = Depends(emulator_state)) -> dict[str, str]:
    return {"now": state.advance(body.seconds).isoformat()}


@router.post("/seed")
async def seed(body: SeedIn, state: EmulatorState = Depends(emulator_state)) -> dict[str, Any]:
    return seed_population(state, SeedParams(**body.model_dump()))


# --- accounts -------------------------------------------------------------------------------------------------


@router.post("/accounts", status_code=201)
async def account_create(body: AccountIn, state: EmulatorState = Depends(emulator_state)) -> dict[str, Any]:
    account = state.directory.create_account(
        Platform(body.platform),
        account_id=body.id,
        email=body.email,
        display_name=body.display_name,
        client_id=body.client_id,
        client_secret=body.client_secret,
        refresh_token=body.refresh_token,
        time_zone=body.time_zone,
        calendars=[CalendarSpec(name=c.name, time_zone=c.time_zone, id=c.id) for c in body.calendars],
    )
    return account_out(account)


@router.get("/accounts")
async def account_list(
    platform: str | None = None, offset: int = 0, limit: int = 100, state: EmulatorState = Depends(emulator_state)
) -> dict[str, Any]:
    accounts = [a for a in state.accounts.values() if platform is None or a.platform.value == platform]
    return {"total": len(accounts), "items": [account_out(a) for a in accounts[offset : offset + min(limit, 1000)]]}


@router.get("/accounts/{account_id}")
async def account_get(account_id: str, state: EmulatorState = Depends(emulator_state)) -> dict[str, Any]:
    return account_out(state.directory.account(account_id))


@router.patch("/accounts/{account_id}")
async def account_patch(
    account_id: str, body: AccountPatch, state: EmulatorState = Depends(emulator_state)
) -> dict[str, Any]:
    account = state.directory.account(account_id)
    if body.calendar_access is not None:
        account.calendar_access = body.calendar_access
    if body.mailbox_enabled is not None:
        account.mailbox_enabled = body.mailbox_enabled
    return account_out(account)


@router.post("/accounts/{account_id}/revoke")
async def account_revoke(
    request: Request, account_id: str, body: RevokeIn, state: EmulatorState = Depends(emulator_state)
) -> dict[str, Any]:
    account = state.directory.account(account_id)
    reasons = GOOGLE_GRANT_ERRORS if account.platform is Platform.GOOGLE else MICROSOFT_GRANT_ERRORS
    if body.reason not in reasons:
        raise ValueError(f"reason must be one of {sorted(reasons)}")
    state.grants.revoke_grant(account, body.reason, keep_access_tokens=body.keep_access_tokens)
    if account.platform is Platform.MICROSOFT:
        # Graph tells a subscriber whose access was revoked with a `reauthorizationRequired` lifecycle event
        # (provider-protocols.md); Google tells nobody.
        for sub in [s for s in state.push.subscriptions.values() if s.account_id == account.id]:
            _notifier(request).graph_lifecycle(sub, "reauthorizationRequired")
    return account_out(account)


@router.post("/accounts/{account_id}/restore")
async def account_restore(account_id: str, state: EmulatorState = Depends(emulator_state)) -> dict[str, Any]:
    account = state.directory.account(account_id)
    state.grants.restore_grant(account)
    return account_out(account)


@router.post("/accounts/{account_id}/expire-access-tokens")
async def account_expire_tokens(account_id: str, state: EmulatorState = Depends(emulator_state)) -> dict[str, int]:
    return {"expired": state.grants.expire_access_tokens(state.directory.account(account_id))}


@router.post("/accounts/{account_id}/expire-sync-state")
async def account_expire_sync(
    account_id: str, body: ExpireSyncIn, state: EmulatorState = Depends(emulator_state)
) -> dict[str, str]:
    account = state.directory.account(account_id)
    if body.calendar_id is not None and body.calendar_id not in account.calendars:
        raise LookupError(f"calendar {body.calendar_id}")
    state.sync_states.invalidate(account, body.calendar_id)
    return {"status": "expired"}


@router.delete("/calendars/{calendar_id}")
async def calendar_delete(calendar_id: str, state: EmulatorState = Depends(emulator_state)) -> Response:
    state.directory.delete_calendar(state.directory.calendar(calendar_id, events=False))
    return Response(status_code=204)


@router.post("/accounts/{account_id}/calendars", status_code=201)
async def calendar_create(
    account_id: str, body: CalendarIn, state: EmulatorState = Depends(emulator_state)
) -> dict[str, Any]:
    account = state.directory.account(account_id)
    return calendar_out(
        state.directory.add_calendar(account, CalendarSpec(name=body.name, time_zone=body.time_zone, id=body.id))
    )


# --- events ---------------------------------------------------------------------------------------------------


def _times(cal: Calendar, start: str, end: str, time_zone: str | None) -> tuple[TimeValue, TimeValue]:
    tz = zone(time_zone or cal.time_zone)
    return parse_time_value(start, tz), parse_time_value(end, tz)


@router.post("/calendars/{calendar_id}/events", status_code=201)
async def event_create(
    calendar_id: str, body: EventIn, state: EmulatorState = Depends(emulator_state)
) -> dict[str, Any]:
    cal = state.directory.calendar(calendar_id)
    start, end = _times(cal, body.start, body.end, body.time_zone)
    fields = body.model_dump(
        include={"summary", "description", "location", "status", "organizer_name", "meeting_url", "show_as"}
    )
    fields["attendees"] = [a.model_dump() for a in body.attendees]
    if body.organizer_email:
        fields["organizer_email"] = body.organizer_email
    if body.ical_uid:
        fields["ical_uid"] = body.ical_uid
    event = state.events.create_event(
        cal, start, end, time_zone=body.time_zone, recurrence_lines=body.recurrence, event_id=body.id, fields=fields
    )
    return event_out(event)


@router.get("/calendars/{calendar_id}/events")
async def event_list(calendar_id: str, state: EmulatorState = Depends(emulator_state)) -> dict[str, Any]:
    cal = state.directory.calendar(calendar_id)
    return {"items": [event_out(e) for e in cal.events.values()], "seq": cal.seq, "epoch": cal.epoch}


@router.get("/calendars/{calendar_id}/events/{event_id}")
async def event_get(calendar_id: str, event_id: str, state: EmulatorState = Depends(emulator_state)) -> dict[str, Any]:
    return event_out(state.events.find_event(state.directory.calendar(calendar_id), event_id))


@router.patch("/calendars/{calendar_id}/events/{event_id}")
async def event_update(
    calendar_id: str, event_id: str, body: EventPatch, state: EmulatorState = Depends(emulator_state)
) -> dict[str, Any]:
    cal = state.directory.calendar(calendar_id)
    changes = body.model_dump(exclude_unset=True)
    tz = zone(changes.get("time_zone") or cal.time_zone)
    for name in ("start", "end"):
        if name in changes:
            changes[name] = parse_time_value(changes[name], tz)
    if "attendees" in changes:
        changes["attendees"] = [dict(a) for a in changes["attendees"]]
    return event_out(state.events.update_event(cal, event_id, changes))


@router.post("/calendars/{calendar_id}/events/{event_id}/cancel")
async def event_cancel(
    calendar_id: str, event_id: str, state: EmulatorState = Depends(emulator_state)
) -> dict[str, Any]:
    return event_out(state.events.cancel_event(state.directory.calendar(calendar_id), event_id))


@router.post("/calendars/{calendar_id}/events/{event_id}/restore")
async def event_restore(
    calendar_id: str, event_id: str, state: EmulatorState = Depends(emulator_state)
) -> dict[str, Any]:
    return event_out(state.events.restore_event(state.directory.calendar(calendar_id), event_id))


@router.post("/calendars/{calendar_id}/events/{event_id}/move")
async def event_move(
    calendar_id: str, event_id: str, body: MoveIn, state: EmulatorState = Depends(emulator_state)
) -> dict[str, Any]:
    return event_out(
        state.events.move_event(
            state.directory.calendar(calendar_id), event_id, state.directory.calendar(body.to_calendar_id)
        )
    )


@router.delete("/calendars/{calendar_id}/events/{event_id}")
async def event_delete(calendar_id: str, event_id: str, state: EmulatorState = Depends(emulator_state)) -> Response:
    state.events.delete_event(state.directory.calendar(calendar_id), event_id)
    return Response(status_code=204)


# --- faults, observation -----------------------------------------------------------------------------------


@router.post("/faults", status_code=201)
async def fault_add(body: FaultIn, state: EmulatorState = Depends(emulator_state)) -> dict[str, Any]:
    rule = FaultRule(
        id="",
        kind=body.kind,
        platform=body.platform,
        account_id=body.account_id,
        path_contains=body.path_contains,
        remaining=body.count,
        fraction=body.fraction,
        retry_after=body.retry_after,
        latency_ms=body.latency_ms,
    )
    return state.faults.add(rule).to_dict()


@router.get("/faults")
async def fault_list(state: EmulatorState = Depends(emulator_state)) -> dict[str, Any]:
    return {"items": [r.to_dict() for r in state.faults.rules.values()]}


@router.delete("/faults/{fault_id}")
async def fault_remove(fault_id: str, state: EmulatorState = Depends(emulator_state)) -> Response:
    if not state.faults.remove(fault_id):
        raise LookupError(f"fault {fault_id}")
    return Response(status_code=204)


@router.delete("/faults")
async def fault_clear(state: EmulatorState = Depends(emulator_state)) -> Response:
    state.faults.clear()
    return Response(status_code=204)


@router.get("/requests")
async def request_log(
    account_id: str | None = None, limit: int = 100, state: EmulatorState = Depends(emulator_state)
) -> dict[str, Any]:
    records = [r for r in state.metrics.log if account_id is None or r.account_id == account_id]
    return {"items": [r.to_dict() for r in records[-limit:]] if limit > 0 else []}


@router.get("/counters")
async def counters(account_id: str | None = None, state: EmulatorState = Depends(emulator_state)) -> dict[str, Any]:
    return state.metrics.summary(account_id)


@router.delete("/requests")
async def request_log_clear(state: EmulatorState = Depends(emulator_state)) -> Response:
    state.metrics.clear()
    return Response(status_code=204)


@router.get("/notifications")
async def notification_log(request: Request, account_id: str | None = None, limit: int = 100) -> dict[str, Any]:
    records = [r for r in _notifier(request).deliveries if account_id is None or r.get("account_id") == account_id]
    return {"items": records[-limit:] if limit > 0 else []}


@router.post("/notifications/wait")
async def notification_wait(request: Request, seconds: float = 10.0) -> dict[str, bool]:
    return {"idle": await _notifier(request).wait_idle(min(seconds, 60.0))}


@router.delete("/notifications")
async def notification_clear(request: Request) -> Response:
    _notifier(request).clear()
    return Response(status_code=204)


@router.get("/channels")
async def channel_list(state: EmulatorState = Depends(emulator_state)) -> dict[str, Any]:
    now = state.now()
    return {
        "items": [
            {
                "id": c.id,
                "resource_id": c.resource_id,
                "account_id": c.account_id,
                "calendar_id": c.calendar_id,
                "address": c.address,
                "token": c.token,
                "expiration": c.expiration.isoformat(),
                "stopped": c.stopped,
                "live": not c.stopped and c.expiration > now,
                "message_number": c.message_number,
            }
            for c in state.push.channels.values()
        ]
    }


@router.get("/subscriptions")
async def subscription_list(state: EmulatorState = Depends(emulator_state)) -> dict[str, Any]:
    return {
        "items": [
            {
                "id": s.id,
                "account_id": s.account_id,
                "calendar_id": s.calendar_id,
                "resource": s.resource,
                "notification_url": s.notification_url,
                "lifecycle_url": s.lifecycle_url,
                "client_state": s.client_state,
                "change_types": sorted(s.change_types),
                "expiration": s.expiration.isoformat(),
            }
            for s in state.push.subscriptions.values()
        ]
    }


@router.post("/push/copy")
async def push_copy(body: PushCopyIn, state: EmulatorState = Depends(emulator_state)) -> dict[str, Any]:
    """Copy a calendar's live channels and subscriptions onto another calendar (same address, token, client state
    and expiry; the given id), as if its owner had opened them: a benchmark loads many calendars' push state at
    once instead of watching each one. Neither calendar's events are generated."""
    return {"items": [item for copy in body.copies for item in state.push.copy(state.calendars, copy.calendar_id, copy.to_calendar_id, copy.id)]}  # fmt: skip


@router.post("/subscriptions/{subscription_id}/lifecycle")
async def subscription_lifecycle(
    request: Request, subscription_id: str, body: LifecycleIn, state: EmulatorState = Depends(emulator_state)
) -> dict[str, str]:
    sub = state.push.subscriptions.get(subscription_id)
    if sub is None:
        raise LookupError(f"subscription {subscription_id}")
    _notifier(request).graph_lifecycle(sub, body.event)
    if body.event == "subscriptionRemoved":
        state.push.remove_subscription(sub)
    return {"status": "sent"}
