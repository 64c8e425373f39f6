"""The access-token cache on the calendar row, shared by every worker and API process."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from calsync.providers.base import Credentials, TokenGrant
from calsync.security.secret_box import SecretBox
from calsync.store.models import Calendar

# Refresh an access token this long before the platform says it expires.
TOKEN_MARGIN = timedelta(seconds=90)


def cached_access_token(box: SecretBox, calendar: Calendar, now: datetime) -> str | None:
    if (
        calendar.encrypted_access_token
        and calendar.access_token_expires_at
        and calendar.access_token_expires_at > now + TOKEN_MARGIN
        and not must_prove_grant(calendar, now)
    ):
        return box.decrypt(calendar.encrypted_access_token).decode()
    return None


def must_prove_grant(calendar: Calendar, now: datetime) -> bool:
    """Inside the check window of an upcoming meeting, a token obtained before the window opened is not reused: a
    platform may keep honouring an access token after its grant was revoked, a refresh never."""
    opens = calendar.meeting_check_opens_at
    if opens is None or now < opens:
        return False
    refreshed = calendar.access_token_refreshed_at
    return refreshed is None or refreshed < opens


def stored_credentials(box: SecretBox, calendar: Calendar) -> Credentials:
    secrets = box.decrypt_json(calendar.encrypted_credentials)
    return Credentials(
        client_id=calendar.client_id,
        client_secret=str(secrets.get("client_secret", "")),
        refresh_token=str(secrets.get("refresh_token", "")),
    )


def store_grant(box: SecretBox, calendar: Calendar, grant: TokenGrant, now: datetime | None = None) -> None:
    """Cache the new access token; keep a rotated refresh token (Microsoft) in the same write. `now`, the time of
    the refresh, is what shows the grant alive for an upcoming meeting; without it the older time stays (safe)."""
    for column, value in grant_values(box, calendar.encrypted_credentials, grant, now).items():
        setattr(calendar, column, value)


def grant_values(
    box: SecretBox, encrypted_credentials: bytes, grant: TokenGrant, now: datetime | None = None
) -> dict[str, Any]:
    """The calendar's columns that `store_grant` sets, from its stored credentials `encrypted_credentials`."""
    values: dict[str, Any] = {
        "encrypted_access_token": box.encrypt(grant.access_token.encode()),
        "access_token_expires_at": grant.expires_at,
    }
    if now is not None:
        values["access_token_refreshed_at"] = now
    if grant.refresh_token:
        secrets = box.decrypt_json(encrypted_credentials)
        if secrets.get("refresh_token") != grant.refresh_token:
            secrets["refresh_token"] = grant.refresh_token
            values["encrypted_credentials"] = box.encrypt_json(secrets)
    return values
