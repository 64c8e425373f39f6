"""calsync through PgBouncer in transaction pooling mode (`CALSYNC_DATABASE_POOLER=pgbouncer`): a real sync, API
reads and a webhook delivery, with fewer server connections than clients, so every server connection serves several
of calsync's connections in turn. PostgreSQL only; missing PgBouncer or PostgreSQL fails the test."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from calsync.context import AppContext
from calsync.settings import Settings
from calsync.webhooks.delivery_loop import WebhookDeliveryLoop
from calsync.webhooks.signing import parse_secret, verify_standard
from calsync_emulator.client import EmulatorControl
from calsync_emulator.testing import RunningEmulator
from tests.support.databases import PostgresDatabase, start_postgres
from tests.support.pooler import RunningPooler, running_pgbouncer
from tests.support.service import Tenant
from tests.support.settings import emulator_settings
from tests.sync.conftest import (  # noqa: F401 - fixtures: the emulator and the served API of the sync suite
    api_port,
    api_url,
    connect_calendar,
    control,
    list_events,
    sync_once,
)
from tests.webhooks.support import running_receiver

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

# Server connections the pooler keeps per database: fewer than calsync's pool (6).
POOL_SIZE = 2
START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)


@pytest.fixture(scope="module")
def server_database() -> Iterator[PostgresDatabase]:
    database = start_postgres()
    if database is None:
        pytest.fail("PostgreSQL is unreachable: the pooler test runs only against it")
    yield database
    database.drop()


@pytest.fixture(scope="module")
def pooler(server_database: PostgresDatabase) -> Iterator[RunningPooler]:
    with running_pgbouncer(server_database.url, pool_size=POOL_SIZE) as running:
        yield running


@pytest.fixture
async def database_url(server_database: PostgresDatabase) -> AsyncIterator[str]:
    await server_database.truncate()
    yield server_database.url


@pytest.fixture
def settings(
    database_url: str,
    pooler: RunningPooler,
    tmp_path: Path,
    encryption_key: str,
    emulator: RunningEmulator,
    api_port: int,  # noqa: F811 - the imported fixture
) -> Settings:
    return emulator_settings(
        emulator,
        database_url=pooler.url_for(database_url),
        database_pooler="pgbouncer",
        database_direct_url=database_url,
        # More connections than the pooler has server connections: they share them transaction by transaction.
        db_pool_size=6,
        public_url=f"http://127.0.0.1:{api_port}",
        data_dir=tmp_path / "data",
        encryption_keys=encryption_key,
        worker_poll_interval_seconds=0.2,
        webhook_allow_http=True,
        webhook_allow_private_targets=True,
    )


async def server_backends(direct_url: str) -> int:
    """Backends of the database on the server itself, besides this one: the pooler's server connections."""
    dsn = make_url(direct_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await connection.close()


async def test_sync_api_reads_and_a_webhook_run_through_pgbouncer(
    pooler: RunningPooler,
    settings: Settings,
    control: EmulatorControl,  # noqa: F811 - the imported fixture
    context: AppContext,
    tenant: Tenant,
) -> None:
    async with running_receiver() as receiver:
        hook = await tenant.client.post(
            "/api/v1/webhooks", json={"url": receiver.url, "triggers": ["calendar.events_update"]}
        )
        assert hook.status_code == 201, hook.text
        secret = parse_secret(hook.json()["signing_secret"]["secret"])
        account = await control.create_account("google")
        for hour in range(3):
            start = START + timedelta(hours=hour)
            await control.create_event(account["primary_calendar_id"], start, start + timedelta(minutes=30))
        calendar = await connect_calendar(tenant, account)

        await sync_once(context, calendar["id"])
        # Twenty reads at once over six pooled connections and two server connections: a prepared statement left
        # on a server connection, or one named alike by two clients, fails here.
        listings = await asyncio.gather(*(list_events(tenant, calendar["id"]) for _ in range(20)))
        assert all(len(rows) == 3 for rows in listings)
        loop = WebhookDeliveryLoop(context)
        await loop.run_once()
        await loop.drain()

        [request] = receiver.requests
        verify_standard(secret, request.headers, request.body)
        payload = json.loads(request.body)
        assert payload["calendar_id"] == calendar["id"]
        assert sorted(payload["data"]["changes"]["created"]["ids"]) == sorted(row["id"] for row in listings[0])
    # calsync opened more connections than the pooler has server connections: they shared them.
    assert context.db.read_engine.pool.checkedin() > POOL_SIZE  # type: ignore[attr-defined]
    assert await server_backends(settings.direct_database_url) <= POOL_SIZE
