"""OAuth clients, refresh tokens and access tokens: who may call, as which account, until when."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from calsync_emulator import ids
from calsync_emulator.authorization_store import Authorizations
from calsync_emulator.model import AccessToken, Account, Platform

if TYPE_CHECKING:
    from calsync_emulator.state import EmulatorState


class Grants:
    def __init__(self, state: EmulatorState) -> None:
        self._state = state
        self.clients: dict[tuple[Platform, str], str] = {}  # (platform, client id) -> secret
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> account id
        self.access_tokens: dict[str, AccessToken] = {}
        # the interactive leg: redirect URIs, pending consents, authorization codes (authorization.py)
        self.authorizations = Authorizations()

    def add_refresh_token(self, account: Account, token: str) -> None:
        account.refresh_tokens.add(token)
        account.refresh_token = token
        self.refresh_tokens[token] = account.id

    def issue_access_token(self, account: Account, client_id: str) -> tuple[str, int]:
        token = ids.access_token(account.platform)
        lifetime = self._state.config.access_token_lifetime_seconds
        self.access_tokens[token] = AccessToken(account.id, client_id, self._state.now() + timedelta(seconds=lifetime))
        return token, lifetime

    def resolve_access_token(self, authorization: str | None) -> tuple[Account | None, str | None]:
        """(account, None) for a live bearer token, else (account-or-None, problem) where problem is
        `missing`, `invalid` or `expired`. The account is returned for expired tokens so faults and
        request counters can still be attributed."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return None, "missing"
        token = self.access_tokens.get(authorization[7:].strip())
        if token is None:
            return None, "invalid"
        account = self._state.accounts.get(token.account_id)
        if account is None:
            return None, "invalid"
        if token.expires_at <= self._state.now():
            return account, "expired"
        return account, None

    def client_of(self, authorization: str) -> str:
        """The OAuth client id behind an already-authenticated bearer token."""
        return self.access_tokens[authorization[7:].strip()].client_id

    def expire_access_tokens(self, account: Account) -> int:
        """Make every access token of the account expired now (they then get 401)."""
        count = 0
        past = self._state.now() - timedelta(seconds=1)
        for token in self.access_tokens.values():
            if token.account_id == account.id:
                token.expires_at = past
                count += 1
        return count

    def revoke_grant(self, account: Account, reason: str, *, keep_access_tokens: bool = False) -> None:
        """Kill the grant: refreshes fail with the platform's error for `reason` (see oauth.py)."""
        account.grant_error = reason
        if not keep_access_tokens:
            for token, value in list(self.access_tokens.items()):
                if value.account_id == account.id:
                    del self.access_tokens[token]

    def restore_grant(self, account: Account) -> str:
        """A fresh consent: clears the grant error and issues a new refresh token."""
        account.grant_error = None
        token = ids.refresh_token(account.platform)
        self.add_refresh_token(account, token)
        return token
