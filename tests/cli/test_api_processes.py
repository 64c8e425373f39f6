"""How `calsync api` is set up when not told: its processes, their connection pools and their event loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import uvloop

from calsync.cli import serve
from calsync.cli.common import run
from calsync.context import AppContext
from calsync.security.secret_box import generate_key
from calsync.settings import Settings

POSTGRES = "postgresql+asyncpg://calsync@127.0.0.1:5432/calsync"


@pytest.mark.parametrize(("cpus", "expected"), [(1, 1), (2, 2), (8, 2)])
def test_postgres_gets_a_second_process_when_there_is_a_second_cpu(
    monkeypatch: pytest.MonkeyPatch, cpus: int, expected: int
) -> None:
    monkeypatch.setattr(serve.os, "sched_getaffinity", lambda _pid: set(range(cpus)))
    assert serve.default_api_processes(Settings(database_url=POSTGRES)) == expected


def test_embedded_sqlite_keeps_one_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(serve.os, "sched_getaffinity", lambda _pid: set(range(8)))
    assert serve.default_api_processes(Settings(data_dir=tmp_path)) == 1


@pytest.mark.parametrize(
    ("size", "overflow", "processes", "expected"),
    [(5, 5, 1, [10]), (5, 5, 2, [5, 5]), (5, 5, 3, [4, 3, 3]), (1, 0, 2, [1, 1])],
)
def test_the_api_budget_is_split_between_its_processes_and_kept_open(
    size: int, overflow: int, processes: int, expected: list[int]
) -> None:
    settings = Settings(database_url=POSTGRES, db_pool_size=size, db_max_overflow=overflow)
    each = [serve.api_process_settings(settings, processes, index) for index in range(processes)]
    assert [own.db_pool_size for own in each] == expected
    assert all(own.db_max_overflow == 0 for own in each), "no connection is closed as it comes back"
    assert (settings.db_pool_size, settings.db_max_overflow) == (size, overflow), "the process's own settings stay"


def test_the_api_runs_on_uvloop_unless_asked_for_the_standard_loop(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, encryption_keys=generate_key())

    async def loop_type(_context: AppContext) -> type[asyncio.AbstractEventLoop]:
        return type(asyncio.get_running_loop())

    chosen = serve.EventLoop("uvloop")
    assert run(loop_type, settings, loop_factory=serve.event_loop_factory(chosen)) is uvloop.Loop
    standard = run(loop_type, settings, loop_factory=serve.event_loop_factory(serve.EventLoop.asyncio))
    assert not issubclass(standard, uvloop.Loop)
