"""`/api/v1/bot_rule_settings`: the project's settings that bot rules read (its extra internal domains)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from calsync.api.dependencies import Authenticated, Context, ReadSession
from calsync.api.routes.common import AttendeeRoute, allowed_fields
from calsync.api.rule_schemas import BOT_RULE_SETTINGS_FIELDS, BotRuleSettingsOut, BotRuleSettingsRequest
from calsync.json_response import JSONResponse
from calsync.meetings.internal_domains import internal_domains, set_internal_domains
from calsync.store.models import Project
from calsync.web.errors import field_errors

router = APIRouter(prefix="/api/v1", tags=["Bot rules"], route_class=AttendeeRoute)


@router.get(
    "/bot_rule_settings",
    operation_id="Get Bot Rule Settings",
    summary="Get the project's bot rule settings",
    response_model=BotRuleSettingsOut,
)
async def get_settings(caller: Authenticated, session: ReadSession) -> JSONResponse:
    project = await session.get(Project, caller.project_id)
    return JSONResponse({"internal_domains": internal_domains(project) if project else []})


@router.patch(
    "/bot_rule_settings",
    operation_id="Update Bot Rule Settings",
    summary="Change the project's bot rule settings",
    description="A change of `internal_domains` re-evaluates the meetings of the window in the background.",
    response_model=BotRuleSettingsOut,
    responses={400: {"description": "Invalid input"}},
    dependencies=[Depends(allowed_fields(BOT_RULE_SETTINGS_FIELDS))],
)
async def update_settings(body: BotRuleSettingsRequest, caller: Authenticated, context: Context) -> JSONResponse:
    if "internal_domains" in body.model_fields_set and body.internal_domains is None:
        raise field_errors({"internal_domains": ["This field may not be null."]})
    async with context.db.write() as session:
        project = await session.get(Project, caller.project_id)
        if project is None:  # (the key's project was deleted meanwhile: authentication would have refused it)
            raise field_errors({"internal_domains": ["The project no longer exists."]})
        if body.internal_domains is not None:
            await set_internal_domains(session, project, body.internal_domains, context.clock())
        result = {"internal_domains": internal_domains(project)}
    context.work_signal.kick()
    return JSONResponse(result)
