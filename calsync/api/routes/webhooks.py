"""`/api/v1/webhooks`, `/api/v1/webhook_secret`, `/api/v1/webhook_deliveries`: customer webhooks.

Subscriptions, the project's signing secret (shown once, rotated with an overlap) and the delivery log with
manual retry. Everything is scoped to the caller's project: another project's ids are 404.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BeforeValidator, Field, Strict, WithJsonSchema
from pydantic_core import PydanticCustomError
from starlette.convertors import StringConvertor, register_url_convertor

from calsync.api.auth import get_context
from calsync.api.dependencies import Authenticated, Context, ReadSession
from calsync.api.routes.common import AttendeeRoute, allowed_fields
from calsync.api.schemas import RequestModel
from calsync.api.webhook_schemas import (
    CreatedWebhook,
    DeliveryStatus,
    IssuedWebhookSecret,
    PaginatedWebhookDeliveryList,
    PaginatedWebhookList,
    Trigger,
    WebhookDeliveryDetail,
    WebhookDeliveryOut,
    WebhookOut,
    WebhookSecretList,
)
from calsync.json_response import JSONResponse
from calsync.outbound.ssrf import MAX_URL_LENGTH, validate_webhook_url
from calsync.store.work_signal import notify_work_in_transaction
from calsync.web.errors import ApiError, field_errors, not_found
from calsync.web.inputs import STRIPPED_CLASS, check_text, quoted
from calsync.web.pagination import decode_cursor, page_envelope, seek_key
from calsync.webhooks import queries, secret_store, serializers
from calsync.webhooks.payloads import TRIGGERS

router = APIRouter(prefix="/api/v1", tags=["Webhooks"], route_class=AttendeeRoute)


class _SecretId(StringConvertor):
    """`/webhook_secret/rotate` is a resource of its own (POST only). As in OpenAPI, the literal path wins over the
    template: DELETE /webhook_secret/rotate is a 405, not an attempt to delete a secret called "rotate"."""

    regex = "(?!rotate$)[^/]+"


register_url_convertor("secret_id", _SecretId())

PAGE_SIZE = 25
ORDERING = "-created_at"
WEBHOOK_NOT_FOUND = "Webhook not found"
DELIVERY_NOT_FOUND = "Webhook delivery not found"
SECRET_NOT_FOUND = "Webhook secret not found"


def _url(value: Any) -> str:
    if value is None:
        raise PydanticCustomError("null", "This field may not be null.")
    if not isinstance(value, str):
        raise PydanticCustomError("invalid_string", "Not a valid string.")
    text = value.strip()
    if not text:
        raise PydanticCustomError("blank", "This field may not be blank.")
    if len(text) > MAX_URL_LENGTH:
        raise PydanticCustomError(
            "max_length", "Ensure this field has no more than {max_length} characters.", {"max_length": MAX_URL_LENGTH}
        )
    return check_text(text)


def _triggers(value: Any) -> list[str]:
    if value is None:
        raise PydanticCustomError("null", "This field may not be null.")
    if not isinstance(value, list):
        raise PydanticCustomError("not_a_list", 'Expected a list of items but got type "{kind}".', {"kind": "str"})
    if not value:
        raise PydanticCustomError("empty", "This list may not be empty.")
    for item in value:
        if item not in TRIGGERS:
            raise PydanticCustomError("invalid_choice", '"{value}" is not a valid choice.', {"value": quoted(item)})
    return list(dict.fromkeys(value))  # de-duplicated, order kept


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise PydanticCustomError("bool_type", "Must be a valid boolean.")
    return value


# The syntax of an acceptable URL, for the OpenAPI document: what `_check_url` takes, except what no pattern can
# say (IDNA names, given in Unicode or as xn-- labels; a name's 253 characters; ports up to 65535; the 2048
# characters; http only with CALSYNC_WEBHOOK_ALLOW_HTTP; private addresses only with
# CALSYNC_WEBHOOK_ALLOW_PRIVATE_TARGETS).
_SPACE = f"[{STRIPPED_CLASS}]"
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = f"(?:(?:{_LABEL}\\.)*{_LABEL}\\.?|\\[[0-9A-Fa-f:.]+\\])"
_URL_PATTERN = (
    f"^{_SPACE}*[Hh][Tt][Tt][Pp][Ss]?://{_HOST}(?::[0-9]*)?"
    f"(?:[/?#][^{STRIPPED_CLASS}\\u0000-\\u001f\\u007f]*)?{_SPACE}*$"
)
URL_SCHEMA = WithJsonSchema({"type": "string", "pattern": _URL_PATTERN})
TRIGGERS_SCHEMA = WithJsonSchema({"type": "array", "minItems": 1, "items": {"type": "string", "enum": list(TRIGGERS)}})
FLAG_SCHEMA = WithJsonSchema({"type": "boolean"})

WebhookUrl = Annotated[str, BeforeValidator(_url), URL_SCHEMA]
Triggers = Annotated[list[str], BeforeValidator(_triggers), TRIGGERS_SCHEMA]
StrictFlag = Annotated[bool, BeforeValidator(_bool)]
TRIGGERS_DOC = "Any of: " + ", ".join(TRIGGERS)


class CreateWebhookRequest(RequestModel):
    url: WebhookUrl = Field(description="https URL that receives the POSTs")
    triggers: Triggers = Field(description=TRIGGERS_DOC)
    is_active: StrictFlag = Field(default=True, description="Inactive webhooks receive nothing")


class PatchWebhookRequest(RequestModel):
    # Optional, never null (the handler refuses an explicit null): the schemas leave null out.
    url: Annotated[WebhookUrl | None, URL_SCHEMA] = None
    triggers: Annotated[Triggers | None, TRIGGERS_SCHEMA] = None
    is_active: Annotated[StrictFlag | None, FLAG_SCHEMA] = None


class RotateSecretRequest(RequestModel):
    # Strict: a JSON number only (not "72" nor true), as the schema says.
    previous_expires_in_hours: Annotated[float, Strict()] = Field(
        default=secret_store.ROTATION_OVERLAP.total_seconds() / 3600,
        ge=0,
        le=secret_store.MAX_ROTATION_OVERLAP.total_seconds() / 3600,
        description="How long the previous secret(s) keep signing beside the new one (default 72)",
    )


CREATE_FIELDS = tuple(CreateWebhookRequest.model_fields)
PATCH_FIELDS = tuple(PatchWebhookRequest.model_fields)
ROTATE_FIELDS = tuple(RotateSecretRequest.model_fields)


def _check_url(request: Request, url: str) -> None:
    settings = get_context(request).settings
    error = validate_webhook_url(url, settings.webhook_allow_http, allow_private=settings.webhook_allow_private_targets)
    if error:
        raise field_errors({"url": [error]})


DUPLICATE_URL = field_errors({"url": ["A webhook with this URL already exists in this project."]})


# --- Signing secret (declared before /webhooks/{id} so its paths never look like an id) ---


@router.get(
    "/webhook_secret",
    operation_id="Get Webhook Secret",
    response_model=WebhookSecretList,
    summary="The project's signing secrets (metadata only, never the key)",
)
async def get_webhook_secret(caller: Authenticated, context: Context, session: ReadSession) -> JSONResponse:
    rows = await secret_store.active_secrets(session, caller.project_id, context.clock())
    keys = secret_store.decrypt_all(context.secrets, rows)
    return JSONResponse(
        {
            "secrets": [
                serializers.secret_metadata_json(row, key, is_primary=index == 0)
                for index, (row, key) in enumerate(zip(rows, keys, strict=True))
            ]
        }
    )


@router.post(
    "/webhook_secret/rotate",
    operation_id="Rotate Webhook Secret",
    response_model=IssuedWebhookSecret,
    summary="Create a new signing secret; returned once. The previous one keeps signing until it expires.",
    status_code=201,
    dependencies=[Depends(allowed_fields(ROTATE_FIELDS))],
)
async def rotate_webhook_secret(
    caller: Authenticated, context: Context, body: RotateSecretRequest | None = None
) -> JSONResponse:
    hours = (body or RotateSecretRequest()).previous_expires_in_hours
    async with context.db.write() as session:
        issued = await secret_store.rotate_secret(
            session, context.secrets, caller.project_id, context.clock(), timedelta(hours=hours)
        )
    return JSONResponse(serializers.issued_secret_json(issued.row, issued.secret), status_code=201)


@router.delete(
    "/webhook_secret/{secret_id:secret_id}",
    response_class=Response,
    operation_id="Delete Webhook Secret",
    summary="Retire a previous secret now (ends the rotation overlap); the newest cannot be deleted",
    responses={404: {"description": "Not found"}, 409: {"description": "It is the newest secret"}},
)
async def delete_webhook_secret(secret_id: str, caller: Authenticated, context: Context) -> Response:
    async with context.db.write() as session:
        outcome = await secret_store.delete_secret(session, caller.project_id, secret_id, context.clock())
    if outcome is secret_store.DeleteOutcome.NOT_FOUND:
        raise not_found(SECRET_NOT_FOUND)
    if outcome is secret_store.DeleteOutcome.IS_NEWEST:
        raise ApiError(409, {"error": "The newest secret cannot be deleted; rotate first.", "code": "newest_secret"})
    return Response(status_code=200)


# --- Subscriptions ---


@router.post(
    "/webhooks",
    operation_id="Create Webhook",
    response_model=CreatedWebhook,
    summary="Create a webhook",
    description="The first webhook of a project also creates the project's signing secret, returned once here "
    "as `signing_secret`.",
    status_code=201,
    responses={400: {"description": "Invalid input"}},
    dependencies=[Depends(allowed_fields(CREATE_FIELDS))],
)
async def create_webhook(
    request: Request, body: CreateWebhookRequest, caller: Authenticated, context: Context
) -> JSONResponse:
    _check_url(request, body.url)
    now = context.clock()
    try:
        async with context.db.write() as session:
            subscription = await queries.create_subscription(
                session, caller.project_id, url=body.url, triggers=body.triggers, is_active=body.is_active, now=now
            )
            issued = await secret_store.ensure_secret(session, context.secrets, caller.project_id, now)
    except queries.DuplicateUrl:
        raise DUPLICATE_URL from None
    except queries.TooManyWebhooks:
        raise field_errors(
            {"non_field_errors": [f"A project can have at most {queries.MAX_WEBHOOKS_PER_PROJECT} webhooks."]}
        ) from None
    result = serializers.webhook_json(subscription)
    if issued is not None:
        result["signing_secret"] = serializers.issued_secret_json(issued.row, issued.secret)
    return JSONResponse(result, status_code=201)


@router.get(
    "/webhooks",
    operation_id="List Webhooks",
    response_model=PaginatedWebhookList,
    summary="List webhooks, newest first",
)
async def list_webhooks(
    request: Request,
    caller: Authenticated,
    session: ReadSession,
    cursor: Annotated[str | None, Query(description="Opaque page cursor from `next`/`previous`")] = None,
) -> JSONResponse:
    parsed = decode_cursor(cursor, ORDERING)
    page = await queries.list_subscriptions(
        session,
        caller.project_id,
        after=seek_key(parsed),
        backwards=parsed.backwards if parsed else False,
        limit=PAGE_SIZE,
    )
    results = [serializers.webhook_json(s) for s in page.rows]
    return JSONResponse(page_envelope(request, page, ORDERING, results))


@router.get(
    "/webhooks/{object_id}",
    operation_id="Get Webhook",
    response_model=WebhookOut,
    summary="Get a webhook with its health",
    responses={404: {"description": "Not found"}},
)
async def get_webhook(object_id: str, caller: Authenticated, session: ReadSession) -> JSONResponse:
    subscription = await queries.get_subscription(session, caller.project_id, object_id)
    if subscription is None:
        raise not_found(WEBHOOK_NOT_FOUND)
    return JSONResponse(serializers.webhook_json(subscription))


@router.patch(
    "/webhooks/{object_id}",
    operation_id="Update Webhook",
    response_model=WebhookOut,
    summary="Change a webhook's URL, triggers or active flag",
    description="A new URL or re-activation resets the webhook's health. Queued deliveries go to the new URL.",
    responses={400: {"description": "Invalid input"}, 404: {"description": "Not found"}},
    dependencies=[Depends(allowed_fields(PATCH_FIELDS))],
)
async def patch_webhook(
    request: Request, object_id: str, body: PatchWebhookRequest, caller: Authenticated, context: Context
) -> JSONResponse:
    sent = body.model_fields_set
    for name in sent:
        if getattr(body, name) is None:
            raise field_errors({name: ["This field may not be null."]})
    if body.url is not None:
        _check_url(request, body.url)
    try:
        async with context.db.write() as session:
            subscription = await queries.get_subscription(session, caller.project_id, object_id, for_update=True)
            if subscription is None:
                raise not_found(WEBHOOK_NOT_FOUND)
            await queries.update_subscription(
                session,
                subscription,
                url=body.url,
                triggers=body.triggers,
                is_active=body.is_active,
                now=context.clock(),
            )
    except queries.DuplicateUrl:
        raise DUPLICATE_URL from None
    return JSONResponse(serializers.webhook_json(subscription))


@router.delete(
    "/webhooks/{object_id}",
    response_class=Response,
    operation_id="Delete Webhook",
    summary="Delete a webhook, its queued deliveries and its delivery log",
    responses={200: {"description": "Deleted (empty body)"}, 404: {"description": "Not found"}},
)
async def delete_webhook(object_id: str, caller: Authenticated, context: Context) -> Response:
    async with context.db.write() as session:
        subscription = await queries.get_subscription(session, caller.project_id, object_id, for_update=True)
        if subscription is None:
            raise not_found(WEBHOOK_NOT_FOUND)
        await session.delete(subscription)
    return Response(status_code=200)


# --- Delivery log ---


@router.get(
    "/webhooks/{object_id}/deliveries",
    operation_id="List Webhook Deliveries",
    response_model=PaginatedWebhookDeliveryList,
    summary="A webhook's deliveries, newest first",
    responses={404: {"description": "Not found"}},
)
async def list_webhook_deliveries(
    request: Request,
    object_id: str,
    caller: Authenticated,
    session: ReadSession,
    cursor: Annotated[str | None, Query(description="Opaque page cursor from `next`/`previous`")] = None,
    status: Annotated[DeliveryStatus | None, Query()] = None,
    trigger: Annotated[Trigger | None, Query()] = None,
    calendar_id: Annotated[str | None, Query(description="cal_… id (also after the calendar was deleted)")] = None,
    bot_id: Annotated[str | None, Query(description="bot_… id")] = None,
) -> JSONResponse:
    parsed = decode_cursor(cursor, ORDERING)
    subscription = await queries.get_subscription(session, caller.project_id, object_id)
    if subscription is None:
        raise not_found(WEBHOOK_NOT_FOUND)
    page = await queries.list_deliveries(
        session,
        subscription.id,
        queries.DeliveryFilters(status=status, trigger=trigger, calendar_object_id=calendar_id, bot_object_id=bot_id),
        after=seek_key(parsed),
        backwards=parsed.backwards if parsed else False,
        limit=PAGE_SIZE,
    )
    results = [serializers.delivery_json(d, subscription.object_id) for d in page.rows]
    return JSONResponse(page_envelope(request, page, ORDERING, results))


@router.get(
    "/webhook_deliveries/{object_id}",
    operation_id="Get Webhook Delivery",
    response_model=WebhookDeliveryDetail,
    summary="One delivery with its latest attempts (status, response excerpt, error, duration)",
    responses={404: {"description": "Not found"}},
)
async def get_webhook_delivery(object_id: str, caller: Authenticated, session: ReadSession) -> JSONResponse:
    found = await queries.get_delivery(session, caller.project_id, object_id)
    if found is None:
        raise not_found(DELIVERY_NOT_FOUND)
    attempts = await queries.list_attempts(session, found[0].id)
    return JSONResponse(serializers.delivery_json(found[0], found[1], attempts))


@router.post(
    "/webhook_deliveries/{object_id}/retry",
    operation_id="Retry Webhook Delivery",
    response_model=WebhookDeliveryOut,
    summary="Queue a delivery again now, with the same idempotency key and a fresh retry horizon",
    status_code=202,
    responses={404: {"description": "Not found"}, 409: {"description": "Being delivered right now"}},
)
async def retry_webhook_delivery(object_id: str, caller: Authenticated, context: Context) -> JSONResponse:
    try:
        async with context.db.write() as session:
            found = await queries.get_delivery(session, caller.project_id, object_id, for_update=True)
            if found is None:
                raise not_found(DELIVERY_NOT_FOUND)
            queries.requeue(found[0], context.clock())
            await notify_work_in_transaction(session)
    except queries.DeliveryInProgress:
        raise ApiError(
            409, {"error": "The delivery is being attempted right now.", "code": "delivery_in_progress"}
        ) from None
    context.work_signal.kick()
    return JSONResponse(serializers.delivery_json(found[0], found[1]), status_code=202)
