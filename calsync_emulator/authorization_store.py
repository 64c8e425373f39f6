"""What the authorization endpoints remember: registered redirect URIs, consent pages awaiting a decision, and
issued authorization codes (calsync_emulator.authorization)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from calsync_emulator.model import Platform


@dataclass
class PendingAuthorization:
    """An authorization request shown on the consent page, waiting for Allow or Deny."""

    platform: Platform
    client_id: str
    redirect_uri: str
    scopes: list[str]
    state: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    offline: bool  # Google: access_type=offline (with prompt=consent, consent is always shown here)
    expires_at: datetime


@dataclass
class IssuedCode:
    platform: Platform
    client_id: str
    redirect_uri: str
    account_id: str
    scopes: list[str]
    code_challenge: str | None
    code_challenge_method: str | None
    offline: bool
    expires_at: datetime
    used: bool = False
    refresh_token: str | None = None  # minted from this code: revoked if the code is presented again


@dataclass
class Authorizations:
    """Kept on the emulator state (created on first use, forgotten by a reset)."""

    redirect_uris: dict[tuple[Platform, str], set[str]] = field(default_factory=dict)
    pending: dict[str, PendingAuthorization] = field(default_factory=dict)
    codes: dict[str, IssuedCode] = field(default_factory=dict)
