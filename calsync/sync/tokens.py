"""The access-token cache on the calendar row, shared by every worker and API process."""

from __future__ import annotations

from datetime import datetime, timedelta

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
    ):
        return box.decrypt(calendar.encrypted_access_token).decode()
    return None


def stored_credentials(box: SecretBox, calendar: Calendar) -> Credentials:
    secrets = box.decrypt_json(calendar.encrypted_credentials)
    return Credentials(
        client_id=calendar.client_id,
        client_secret=str(secrets.get("client_secret", "")),
        refresh_token=str(secrets.get("refresh_token", "")),
    )


def store_grant(box: SecretBox, calendar: Calendar, grant: TokenGrant) -> None:
    """Cache the new access token; keep a rotated refresh token (Microsoft) in the same write."""
    calendar.encrypted_access_token = box.encrypt(grant.access_token.encode())
    calendar.access_token_expires_at = grant.expires_at
    if grant.refresh_token:
        secrets = box.decrypt_json(calendar.encrypted_credentials)
        if secrets.get("refresh_token") != grant.refresh_token:
            secrets["refresh_token"] = grant.refresh_token
            calendar.encrypted_credentials = box.encrypt_json(secrets)
