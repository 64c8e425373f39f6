"""Request and response bodies of /api/v1/connect_settings and /api/v1/connect_sessions."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, Field
from pydantic_core import PydanticCustomError

from calsync.api.schemas import (
    ClientId,
    OptionalIndexedKey,
    OptionalLongKey,
    OptionalMetadata,
    RequestModel,
    ResponseModel,
    Secret,
)

MAX_RETURN_URLS = 20
MAX_URL_LENGTH = 2048
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def check_return_url(value: str) -> str:
    """An absolute https URL (http only on this machine, for development) without a fragment."""
    if len(value) > MAX_URL_LENGTH:
        raise PydanticCustomError("url_length", "Ensure this field has no more than {n} characters.", {"n": 2048})
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise PydanticCustomError("url", "Enter a valid URL.") from None
    if parts.scheme not in ("https", "http") or not host or parts.fragment or parts.username or parts.password:
        raise PydanticCustomError("url", "Enter an absolute http(s) URL without a fragment or credentials.")
    if parts.scheme == "http" and host not in LOCAL_HOSTS:
        raise PydanticCustomError("url_scheme", "Return URLs must use https (http only for localhost).")
    return value


ReturnUrl = Annotated[str, AfterValidator(check_return_url)]


class OAuthAppIn(RequestModel):
    client_id: ClientId
    client_secret: Secret


class ConnectSettingsRequest(RequestModel):
    google: OAuthAppIn | None = Field(default=None, description="The Google OAuth app; null removes it")
    microsoft: OAuthAppIn | None = Field(default=None, description="The Microsoft app registration; null removes it")
    return_urls: list[ReturnUrl] | None = Field(
        default=None,
        max_length=MAX_RETURN_URLS,
        description="Where sessions may send the browser back (exact); replaces the list, null leaves it",
    )


CONNECT_SETTINGS_FIELDS = tuple(ConnectSettingsRequest.model_fields)


class OAuthAppOut(BaseModel):
    client_id: str
    client_secret_set: bool
    redirect_uri: str


class ConnectSettingsOut(ResponseModel):
    google: OAuthAppOut | None
    microsoft: OAuthAppOut | None
    redirect_uris: dict[str, str] = Field(description="What to register with each platform as redirect URI")
    return_urls: list[str]


class CreateConnectSessionRequest(RequestModel):
    platform: Literal["google", "microsoft"] | None = Field(default=None, description="Absent: the user chooses")
    return_url: ReturnUrl | None = Field(default=None, description="One of the project's return URLs, exactly")
    metadata: OptionalMetadata = Field(default=None, description="Given to the calendar")
    deduplication_key: OptionalIndexedKey = Field(
        default=None, description="The calendar's; an existing calendar with this key is reconnected"
    )
    state: OptionalLongKey = Field(default=None, description="Opaque; handed back on the return URL and webhooks")


CREATE_SESSION_FIELDS = tuple(CreateConnectSessionRequest.model_fields)


class ConnectSessionCreated(ResponseModel):
    id: str
    url: str = Field(description="Send the user's browser here: single use, expires at `expires_at`")
    expires_at: str


class ConnectSessionOut(ResponseModel):
    id: str
    status: Literal["pending", "opened", "authorizing", "exchanging", "completed", "failed"]
    platform: str | None
    calendar_id: str | None
    error: str | None
    return_url: str | None
    metadata: dict[str, str] | None
    deduplication_key: str | None
    state: str | None
    created_at: str
    expires_at: str
    finished_at: str | None


def settings_body(body: ConnectSettingsRequest) -> dict[str, Any]:
    return body.model_dump(exclude_unset=True)
