"""Shared fixtures: every database-backed test runs on SQLite and on PostgreSQL; one emulator and one push
receiver serve the whole session (each suite resets them before a test)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from calsync.context import AppContext
from calsync.runtime import build_app, build_context
from calsync.security.secret_box import generate_key
from calsync.settings import Settings
from calsync_emulator.testing import Receiver, RunningEmulator, running_emulator, running_receiver
from tests.support.databases import PostgresDatabase, SqliteTemplate, start_postgres
from tests.support.service import Tenant, new_tenant, serve_app

TESTS = Path(__file__).resolve().parent
# The end-to-end tier, besides every PostgreSQL variant: whole processes killed and restarted, browsers, the
# fuzzing campaign, the official SDKs, installs and the chaos harness, and whatever talks to a server over a socket.
# `make unit` runs everything else (pure tests and SQLite in process) for quick feedback; `make test` runs both.
END_TO_END = (
    "chaos/",
    "emulator_sdk/",
    "test_install.py",
    "api/test_docs_browser.py",
    "api/test_fuzz_contract.py",
    "api/test_generated_client.py",
    "cli/test_cli.py",
    "dashboard/test_browser.py",
    "bots/test_bot_worker_killed.py",
    "webhooks/test_webhook_worker_killed.py",
)


# Fixtures that serve over real sockets (calsync's API, the emulator, a webhook receiver): their tests are end to
# end as well.
SERVING_FIXTURES = frozenset({"api_url", "emulator", "receiver_server", "ms_emu"})


def is_end_to_end(item: pytest.Item, on_postgres: bool) -> bool:
    if on_postgres or item.path.relative_to(TESTS).as_posix().startswith(END_TO_END):
        return True
    return not SERVING_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("database_url") == "postgres"
        if on_postgres:
            item.add_marker(pytest.mark.postgres)
        if is_end_to_end(item, on_postgres):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return SqliteTemplate(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[PostgresDatabase | None]:
    database = start_postgres()
    yield database
    if database is not None:
        database.drop()


@pytest.fixture(scope="session")
def emulator() -> Iterator[RunningEmulator]:
    with running_emulator() as running:
        yield running


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[Receiver]:
    with running_receiver() as receiver:
        yield receiver


@pytest.fixture
def receiver(receiver_server: Receiver) -> Receiver:
    """The session's push receiver, answering normally and with nothing received."""
    receiver_server.reset()
    return receiver_server


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(
    request: pytest.FixtureRequest,
    sqlite_template: SqliteTemplate,
    postgres_database: PostgresDatabase | None,
    tmp_path: Path,
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield sqlite_template.fresh_url(tmp_path)
        return
    database = postgres_database
    if database is None:
        pytest.skip("PostgreSQL unreachable (set CALSYNC_REQUIRE_POSTGRES=1 to make this a failure)")
    await database.truncate()
    yield database.url


@pytest.fixture
def encryption_key() -> str:
    return generate_key()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, encryption_key: str) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        encryption_keys=encryption_key,
        worker_poll_interval_seconds=0.2,
    )


@pytest.fixture
async def context(settings: Settings) -> AsyncIterator[AppContext]:
    ctx = build_context(settings)
    yield ctx
    await ctx.aclose()


@pytest.fixture
def app(context: AppContext) -> FastAPI:
    return build_app(context)


@pytest.fixture
async def api_url(app: FastAPI) -> AsyncIterator[str]:
    async with serve_app(app) as url:
        yield url


@pytest.fixture
async def tenant(context: AppContext, api_url: str) -> AsyncIterator[Tenant]:
    tenant = await new_tenant(context, api_url, "tenant-a")
    yield tenant
    await tenant.client.aclose()


@pytest.fixture
async def other_tenant(context: AppContext, api_url: str) -> AsyncIterator[Tenant]:
    tenant = await new_tenant(context, api_url, "tenant-b")
    yield tenant
    await tenant.client.aclose()
