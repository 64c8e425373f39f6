"""Identifier and credential formats that look like each platform's (opaque to clients either way)."""

from __future__ import annotations

import base64
import secrets
import uuid

from calsync_emulator.model import Platform


def google_event_id() -> str:
    # Google event ids are base32hex (0-9, a-v), 5-1024 chars
    return base64.b32hexencode(secrets.token_bytes(15)).decode().lower()


def graph_id(prefix: str = "AAMkAG") -> str:
    return prefix + secrets.token_urlsafe(48)


def event_id(platform: Platform) -> str:
    return google_event_id() if platform is Platform.GOOGLE else graph_id()


def calendar_id(platform: Platform) -> str:
    if platform is Platform.GOOGLE:
        return f"{google_event_id()}@group.calendar.google.com"
    return graph_id("AAMkAGcal")


def refresh_token(platform: Platform) -> str:
    return "1//" + secrets.token_urlsafe(72) if platform is Platform.GOOGLE else "M.C5" + secrets.token_urlsafe(96)


def access_token(platform: Platform) -> str:
    return (
        "ya29." + secrets.token_urlsafe(96) if platform is Platform.GOOGLE else "eyJ0eXAi" + secrets.token_urlsafe(180)
    )


def user_id(platform: Platform) -> str:
    return str(secrets.randbelow(10**20)) if platform is Platform.GOOGLE else str(uuid.uuid4())


def short_id() -> str:
    return secrets.token_hex(8)
