"""`/api/v1/bot_rules`: rules that give meetings a bot (docs/bots.md, "Rules"). Every change that can change a
decision queues the meetings of the window for re-evaluation, in the background; the rule shows the progress."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from calsync.api.dependencies import Authenticated, Context, ReadSession
from calsync.api.routes.common import AttendeeRoute, allowed_fields
from calsync.api.rule_schemas import (
    DEFAULTS,
    RULE_FIELDS,
    BotRuleOut,
    BotRuleRequest,
    CreateBotRuleRequest,
    PaginatedBotRuleList,
)
from calsync.json_response import JSONResponse
from calsync.meetings import rule_store
from calsync.store.models import BotRule
from calsync.web.errors import ApiError, field_errors, not_found
from calsync.web.pagination import decode_cursor, page_envelope, seek_key

router = APIRouter(prefix="/api/v1", tags=["Bot rules"], route_class=AttendeeRoute)

RULE_PAGE_SIZE = 25
RULE_NOT_FOUND = "Bot rule not found"
NOT_NULL = frozenset(DEFAULTS) | {"name"}


def rule_error(message: str, code: str) -> ApiError:
    return ApiError(400, {"error": message, "code": code})


def _values(body: BotRuleRequest | CreateBotRuleRequest) -> dict[str, Any]:
    sent = body.model_fields_set
    for name in sent & NOT_NULL:
        if getattr(body, name) is None:
            raise field_errors({name: ["This field may not be null."]})
    return {name: getattr(body, name) for name in sent}


async def _check(session: Any, project_id: int, rule: dict[str, Any]) -> None:
    """Rules between fields and against the project's calendars (field rules are the schema's)."""
    low, high = rule.get("participants_gte"), rule.get("participants_lte")
    if low is not None and high is not None and low > high:
        raise rule_error("participants_gte cannot be greater than participants_lte.", "participants_range")
    unknown = await rule_store.unknown_calendars(session, project_id, rule.get("calendar_ids") or [])
    if unknown:
        raise rule_error(f"Calendar with id {unknown[0]} does not exist in this project.", "calendar_not_found")


def _current(rule: BotRule) -> dict[str, Any]:
    return {name: getattr(rule, rule_store.column(name)) for name in RULE_FIELDS}


@router.post(
    "/bot_rules",
    operation_id="Create Bot Rule",
    summary="Create a bot rule",
    description="The meetings of the window are re-evaluated in the background (`evaluation` shows the progress).",
    status_code=201,
    response_model=BotRuleOut,
    responses={400: {"description": "Invalid input"}},
    dependencies=[Depends(allowed_fields(RULE_FIELDS))],
)
async def create_rule(body: CreateBotRuleRequest, caller: Authenticated, context: Context) -> JSONResponse:
    values = _values(body)
    if "name" not in values:
        raise field_errors({"name": ["This field is required."]})
    values = {**DEFAULTS, **values}
    async with context.db.write() as session:
        now = context.clock()
        await _check(session, caller.project_id, values)
        rule = rule_store.new_rule(caller.project_id, values, now)
        session.add(rule)
        await session.flush()
        await rule_store.reevaluate(session, rule, now)
        body_json = await rule_store.rule_json(session, rule)
    context.work_signal.kick()
    return JSONResponse(body_json, status_code=201)


@router.get(
    "/bot_rules",
    operation_id="List Bot Rules",
    summary="List bot rules",
    description="Oldest first, 25 per page.",
    response_model=PaginatedBotRuleList,
    responses={404: {"description": "Invalid cursor"}},
)
async def list_rules(
    request: Request,
    caller: Authenticated,
    session: ReadSession,
    cursor: Annotated[str | None, Query(description="Opaque page cursor from `next`/`previous`")] = None,
) -> JSONResponse:
    parsed = decode_cursor(cursor, rule_store.ORDERING)
    page = await rule_store.list_rules(
        session,
        caller.project_id,
        after=seek_key(parsed),
        backwards=parsed.backwards if parsed else False,
        limit=RULE_PAGE_SIZE,
    )
    results = [await rule_store.rule_json(session, rule) for rule in page.rows]
    return JSONResponse(page_envelope(request, page, rule_store.ORDERING, results))


@router.get(
    "/bot_rules/{object_id}",
    operation_id="Get Bot Rule",
    summary="Get a bot rule",
    response_model=BotRuleOut,
    responses={404: {"description": "Bot rule not found"}},
)
async def get_rule(object_id: str, caller: Authenticated, session: ReadSession) -> JSONResponse:
    rule = await rule_store.get_rule(session, caller.project_id, object_id)
    if rule is None:
        raise not_found(RULE_NOT_FOUND)
    return JSONResponse(await rule_store.rule_json(session, rule))


@router.patch(
    "/bot_rules/{object_id}",
    operation_id="Update Bot Rule",
    summary="Change a bot rule",
    description="Any subset of the fields. A change of anything but `name` re-evaluates the meetings of the window "
    "in the background: bots follow (a bot keeps its id while its meeting stays selected).",
    response_model=BotRuleOut,
    responses={400: {"description": "Invalid input"}, 404: {"description": "Bot rule not found"}},
    dependencies=[Depends(allowed_fields(RULE_FIELDS))],
)
async def patch_rule(object_id: str, body: BotRuleRequest, caller: Authenticated, context: Context) -> JSONResponse:
    values = _values(body)
    async with context.db.write() as session:
        now = context.clock()
        rule = await rule_store.get_rule(session, caller.project_id, object_id, lock=True)
        if rule is None:
            raise not_found(RULE_NOT_FOUND)
        merged = {**_current(rule), **values}
        await _check(session, caller.project_id, merged)
        changed = {name for name, value in values.items() if getattr(rule, rule_store.column(name)) != value}
        for name, value in values.items():
            setattr(rule, rule_store.column(name), value)
        if changed:
            rule.updated_at = now
        if changed - rule_store.COSMETIC_FIELDS:
            await rule_store.reevaluate(session, rule, now)
        body_json = await rule_store.rule_json(session, rule)
    context.work_signal.kick()
    return JSONResponse(body_json)


@router.delete(
    "/bot_rules/{object_id}",
    operation_id="Delete Bot Rule",
    summary="Delete a bot rule",
    description="The rule is deleted and returned (200). The meetings of the window are re-evaluated in the "
    "background: a bot it gave keeps serving its meeting if another rule selects it, else it is cancelled "
    "(`meeting_not_selected`).",
    response_model=BotRuleOut,
    responses={404: {"description": "Bot rule not found"}},
)
async def delete_rule(object_id: str, caller: Authenticated, context: Context) -> JSONResponse:
    async with context.db.write() as session:
        now = context.clock()
        rule = await rule_store.get_rule(session, caller.project_id, object_id, lock=True)
        if rule is None:
            raise not_found(RULE_NOT_FOUND)
        await rule_store.reevaluate(session, rule, now)
        body_json = await rule_store.rule_json(session, rule)
        await session.delete(rule)
    context.work_signal.kick()
    return JSONResponse(body_json)
