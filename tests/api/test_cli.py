"""The `calsync` command: administration commands, first-run bootstrap, clean shutdown on signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from calsync.cli import app


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"CALSYNC_DATA_DIR": str(tmp_path / "data"), "CALSYNC_LOG_LEVEL": "WARNING"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CALSYNC_DATABASE_URL", raising=False)
    monkeypatch.delenv("CALSYNC_ENCRYPTION_KEYS", raising=False)
    return env


def test_projects_and_api_keys(cli_env: dict[str, str]) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["projects", "create", "acme"])
    assert created.exit_code == 0, created.output
    project_id = next(word for word in created.output.split() if word.startswith("proj_"))
    listed = runner.invoke(app, ["projects", "list"])
    assert "acme" in listed.output and project_id in listed.output

    key = runner.invoke(app, ["api-keys", "create", project_id, "--name", "ci"])
    assert key.exit_code == 0
    secret = key.output.strip().split()[-1]
    keys = runner.invoke(app, ["api-keys", "list", project_id], terminal_width=200)
    assert "ci" in keys.output and secret not in keys.output, "keys are never shown again"
    key_id = next(word for word in keys.output.split() if word.startswith("key_"))
    assert runner.invoke(app, ["api-keys", "revoke", key_id]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["api-keys", "list", project_id], terminal_width=200).output
    missing = runner.invoke(app, ["api-keys", "create", "proj_nope"])
    assert missing.exit_code == 1
    assert runner.invoke(app, ["rotate-keys"]).exit_code == 0


def test_postgres_without_keys_refuses_to_start(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALSYNC_DATABASE_URL", "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    result = CliRunner().invoke(app, ["projects", "list"])
    assert result.exit_code == 2
    assert "CALSYNC_ENCRYPTION_KEYS" in result.output


@pytest.mark.parametrize("command", ["worker", "serve"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_processes_stop_cleanly_on_signals(cli_env: dict[str, str], command: str, signum: int, tmp_path: Path) -> None:
    from tests.support.service import free_port

    env = {**os.environ, **cli_env, "CALSYNC_PORT": str(free_port()), "CALSYNC_LOG_LEVEL": "INFO"}
    process = subprocess.Popen(
        [sys.executable, "-m", "calsync.cli", command], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        # Wait (bounded) for the process to report it is running before signalling it.
        # serve: uvicorn owns the signal handlers once it says it is running.
        ready = "worker_started" if command == "worker" else "Uvicorn running"
        output = b""
        deadline = time.monotonic() + 30
        assert process.stdout is not None
        while ready.encode() not in output:
            assert time.monotonic() < deadline, output.decode()
            line = process.stdout.readline()
            assert line, output.decode()
            output += line
        process.send_signal(signum)
        rest, _ = process.communicate(timeout=30)
        output += rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output.decode()
    assert b"worker_stopped" in output
    if command == "serve":
        assert b"API key" in output and (Path(cli_env["CALSYNC_DATA_DIR"]) / "api-key").stat().st_mode & 0o777 == 0o600
