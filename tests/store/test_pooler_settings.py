"""`CALSYNC_DATABASE_POOLER`: what a transaction-pooling pooler needs from the engine, and the direct URL it requires
for LISTEN and migrations."""

from __future__ import annotations

import pydantic
import pytest

from calsync.settings import Settings
from calsync.store.db import pooler_connect_args

POOLED = "postgresql+asyncpg://calsync@127.0.0.1:6432/calsync"
DIRECT = "postgresql+asyncpg://calsync@127.0.0.1:5432/calsync"


def test_without_a_pooler_the_driver_keeps_its_statement_caches() -> None:
    assert pooler_connect_args("none") == {}


def test_behind_pgbouncer_no_statement_is_cached_and_every_name_is_new() -> None:
    args = pooler_connect_args("pgbouncer")
    assert args["statement_cache_size"] == 0 and args["prepared_statement_cache_size"] == 0
    name = args["prepared_statement_name_func"]
    assert len({name() for _ in range(100)}) == 100


def test_a_pooler_needs_the_direct_url_for_listen_and_migrations(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(pydantic.ValidationError, match="database_direct_url"):
        Settings(database_url=POOLED, database_pooler="pgbouncer")
    pooled = Settings(database_url=POOLED, database_pooler="pgbouncer", database_direct_url=DIRECT)
    assert (pooled.resolved_database_url, pooled.direct_database_url) == (POOLED, DIRECT)
    assert Settings(database_url=DIRECT).direct_database_url == DIRECT
    monkeypatch.setenv("CALSYNC_DATABASE_POOLER", "pgbouncer")
    monkeypatch.setenv("CALSYNC_DATABASE_DIRECT_URL", DIRECT)
    assert Settings(database_url=POOLED).database_pooler == "pgbouncer"
