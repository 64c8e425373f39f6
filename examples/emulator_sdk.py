"""The platforms' official Python SDKs pointed at calsync's emulator (docs/emulator.md quotes these
functions; tests/emulator_sdk/ runs them against a live emulator, and checks that the docs still quote
them verbatim).

- Google: google-api-python-client + google-auth, over http or https.
- Microsoft: msal (which insists on https: start the emulator with `calsync emulator --tls`, and trust the
  CA it prints) and msgraph-sdk, whose requests carry the token msal caches.

Nothing here reaches Google or Microsoft: the Calendar API's discovery document is the one shipped in
google-api-python-client, and msal's instance discovery is off.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import httpx
import msal
import requests
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import Resource, build
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from msgraph import GraphServiceClient
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_request_adapter import options as graph_options
from msgraph_core import GraphClientFactory


def google_calendar(base_url: str, client_id: str, client_secret: str, refresh_token: str) -> Resource:
    """A Calendar v3 service whose token refreshes and API calls all go to the emulator at `base_url`."""
    credentials = Credentials(
        token=None,  # refreshed on first use, at the emulator's token endpoint
        refresh_token=refresh_token,
        token_uri=f"{base_url}/google/token",
        client_id=client_id,
        client_secret=client_secret,
    )
    return build(
        "calendar",
        "v3",
        credentials=credentials,
        static_discovery=True,  # the discovery document shipped in the package: nothing is fetched
        client_options={"api_endpoint": f"{base_url}/google/calendar/v3/"},  # the trailing slash matters
    )


def msal_app(base_url: str, client_id: str, client_secret: str, ca_path: str) -> msal.ConfidentialClientApplication:
    """An msal app whose authority is the emulator (https, trusting the emulator's CA at `ca_path`)."""
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE would override `verify` (and proxies would apply)
    session.verify = ca_path
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=client_secret,
        authority=f"{base_url}/microsoft/login/common",  # discovery: {authority}/v2.0/.well-known/openid-configuration
        instance_discovery=False,  # else msal asks login.microsoftonline.com whether the authority is known
        validate_authority=False,
        http_client=session,
    )


class MsalTokenProvider(AccessTokenProvider):
    """kiota's token source for msgraph-sdk: the signed-in account's token from msal's cache (msal refreshes
    it when needed), only for the emulator's host. No azure-identity credential is involved."""

    def __init__(self, app: msal.ClientApplication, scopes: list[str], host: str) -> None:
        self._app, self._scopes = app, scopes
        self._hosts = AllowedHostsValidator([host])

    async def get_authorization_token(self, uri: str, additional_authentication_context: Any = None) -> str:
        if not self._hosts.is_url_host_valid(uri):
            return ""
        accounts = self._app.get_accounts()
        if not accounts:
            raise RuntimeError("no signed-in account in msal's cache")
        result = await asyncio.to_thread(self._app.acquire_token_silent_with_error, self._scopes, accounts[0])
        if not result or "access_token" not in result:
            raise RuntimeError(f"no token: {result and result.get('error_description')}")
        token: str = result["access_token"]
        return token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self._hosts


def graph_client(base_url: str, tokens: AccessTokenProvider, ca_path: str | None = None) -> GraphServiceClient:
    """A GraphServiceClient whose requests go to the emulator's Graph root."""
    verify = ssl.create_default_context(cafile=ca_path) if ca_path else True
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(verify=verify, trust_env=False),
        options=graph_options,  # keeps msgraph's /users/me-token-to-replace -> /me rewrite
    )
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(tokens), client=http)
    adapter.base_url = f"{base_url}/microsoft/graph/v1.0"
    return GraphServiceClient(request_adapter=adapter)
