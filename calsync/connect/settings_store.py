"""A project's connect settings: its OAuth apps per platform (secrets encrypted with the context's secret box) and
the return URLs a session may send the browser back to (matched exactly)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from calsync.security.secret_box import SecretBox
from calsync.settings import Settings
from calsync.store.models import ConnectSettings

PLATFORMS = ("google", "microsoft")
CALLBACK_PATH = "/connect/callback/{platform}"


@dataclass(frozen=True)
class OAuthApp:
    platform: str
    client_id: str
    client_secret: str


def public_base_url(settings: Settings) -> str:
    """The service's own address as configured, never taken from a request's Host (RFC 9700 §4.1)."""
    return (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")


def redirect_uri(settings: Settings, platform: str) -> str:
    """What to register with the platform: one callback per platform, so a response cannot be mixed up."""
    return public_base_url(settings) + CALLBACK_PATH.format(platform=platform)


async def load(session: AsyncSession, project_id: int, *, for_update: bool = False) -> ConnectSettings | None:
    return await session.get(ConnectSettings, project_id, with_for_update=for_update)


def app_of(row: ConnectSettings | None, platform: str, secrets: SecretBox) -> OAuthApp | None:
    if row is None:
        return None
    client_id = getattr(row, f"{platform}_client_id")
    encrypted = getattr(row, f"{platform}_encrypted_secret")
    if not client_id or encrypted is None:
        return None
    return OAuthApp(platform, client_id, secrets.decrypt(encrypted).decode())


def configured_platforms(row: ConnectSettings | None) -> list[str]:
    if row is None:
        return []
    return [p for p in PLATFORMS if getattr(row, f"{p}_client_id") and getattr(row, f"{p}_encrypted_secret")]


def return_url_allowed(row: ConnectSettings | None, url: str) -> bool:
    return row is not None and url in (row.return_urls or [])


@dataclass(frozen=True)
class SettingsChange:
    """What an update sends: per platform None = leave, False = remove, (client id, secret) = set."""

    apps: dict[str, tuple[str, str] | bool | None]
    return_urls: list[str] | None


async def update(
    session: AsyncSession, project_id: int, change: SettingsChange, secrets: SecretBox, now: datetime
) -> ConnectSettings:
    row = await load(session, project_id, for_update=True)
    if row is None:
        row = ConnectSettings(project_id=project_id, return_urls=[], updated_at=now)
        session.add(row)
    for platform, value in change.apps.items():
        if value is None:
            continue
        if value is False or value is True:
            setattr(row, f"{platform}_client_id", None)
            setattr(row, f"{platform}_encrypted_secret", None)
            continue
        client_id, client_secret = value
        setattr(row, f"{platform}_client_id", client_id)
        setattr(row, f"{platform}_encrypted_secret", secrets.encrypt(client_secret.encode()))
    if change.return_urls is not None:
        row.return_urls = list(dict.fromkeys(change.return_urls))
    row.updated_at = now
    await session.flush()
    return row


def settings_json(row: ConnectSettings | None, settings: Settings) -> dict[str, Any]:
    """The settings as shown to operators: client ids and redirect URIs, never a secret."""
    configured = configured_platforms(row)
    return {
        **{
            platform: (
                {
                    "client_id": getattr(row, f"{platform}_client_id"),
                    "client_secret_set": True,
                    "redirect_uri": redirect_uri(settings, platform),
                }
                if row is not None and platform in configured
                else None
            )
            for platform in PLATFORMS
        },
        "redirect_uris": {platform: redirect_uri(settings, platform) for platform in PLATFORMS},
        "return_urls": list(row.return_urls or []) if row is not None else [],
    }
