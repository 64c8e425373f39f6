"""Failed sign-ins are limited per client address and per key prefix (429, a page saying so, Retry-After), on
the context's clock; over real sockets from several loopback addresses (127.0.0.x are all this machine)."""

from __future__ import annotations

import httpx

from calsync.clock import FrozenClock
from calsync.context import AppContext
from tests.dashboard.support import hidden_fields
from tests.support.service import Tenant

LIMIT = 10  # CALSYNC_DASHBOARD_SIGN_IN_FAILURES_PER_MINUTE's default


def client_from(api_url: str, address: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=api_url, transport=transport, timeout=30, follow_redirects=False)


async def attempt(client: httpx.AsyncClient, api_key: str) -> httpx.Response:
    """One sign-in with a fresh form (each answer sets a new login nonce)."""
    fields = hidden_fields((await client.get("/dashboard/login")).text)
    return await client.post(
        "/dashboard/login", data={"login_token": fields["login_token"], "next": "/dashboard/", "api_key": api_key}
    )


async def test_failed_sign_ins_are_limited(
    context: AppContext, api_url: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    clock = FrozenClock(context.clock())
    context.clock = clock
    assert tenant.api_key[:4] != other_tenant.api_key[:4]  # (1 in 62^4 that they share a prefix)

    # One address guessing many keys: limited after LIMIT failures, even with the right key.
    async with client_from(api_url, "127.0.0.1") as guesser, client_from(api_url, "127.0.0.2") as colleague:
        for index in range(LIMIT):
            wrong = await attempt(guesser, f"{index:04d}" + "x" * 28)
            assert wrong.status_code == 401, index
        clock.advance(seconds=15)
        limited = await attempt(guesser, tenant.api_key)
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "45"
        assert "Too many failed sign-ins" in limited.text and 'role="alert"' in limited.text
        assert "calsync_dashboard=" not in limited.headers.get("set-cookie", "")
        # Another address with the same key is not concerned.
        assert (await attempt(colleague, tenant.api_key)).status_code == 303
        # A minute after the first failure, the address may try again.
        clock.advance(seconds=45)
        assert (await attempt(guesser, tenant.api_key)).status_code == 303

    # Many addresses guessing at one key prefix: limited per prefix, not for another key.
    for index in range(LIMIT):
        async with client_from(api_url, f"127.0.1.{index + 1}") as one:
            assert (await attempt(one, tenant.api_key[:4] + "y" * 28)).status_code == 401
    async with client_from(api_url, "127.0.2.1") as fresh:
        limited = await attempt(fresh, tenant.api_key)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "60"
        assert (await attempt(fresh, other_tenant.api_key)).status_code == 303
        clock.advance(seconds=60)
        assert (await attempt(fresh, tenant.api_key)).status_code == 303


async def test_successful_sign_ins_are_never_limited(context: AppContext, api_url: str, tenant: Tenant) -> None:
    async with client_from(api_url, "127.0.0.1") as client:
        for _ in range(LIMIT + 2):
            assert (await attempt(client, tenant.api_key)).status_code == 303
