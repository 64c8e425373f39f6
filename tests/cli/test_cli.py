"""The `calsync` command: administration commands, first-run bootstrap, clean shutdown on signals."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from calsync import __version__
from calsync.cli import app
from calsync.context import AppContext
from calsync.security.secret_box import generate_key
from calsync.settings import Settings
from calsync.store.queries import calendars as calendar_queries
from calsync.store.queries import projects as project_queries
from tests.support.databases import postgres_admin_url


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
        ready = "worker_started" if command == "worker" else "Application startup complete"
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


def test_serve_on_a_busy_port_fails_before_starting_anything(cli_env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "calsync.cli", "serve", "--port", str(port)],
            env={**os.environ, **cli_env, "CALSYNC_LOG_LEVEL": "INFO"},
            capture_output=True,
            timeout=60,
        )
    output = (result.stdout + result.stderr).decode()
    assert result.returncode == 2, output
    assert f"cannot listen on 127.0.0.1:{port}" in output
    assert "worker_started" not in output and "listening" not in output


def test_version_and_plain_help(cli_env: dict[str, str]) -> None:
    version = subprocess.run([sys.executable, "-m", "calsync.cli", "--version"], capture_output=True, timeout=60)
    assert version.returncode == 0 and version.stdout.decode().strip() == f"calsync {__version__}"
    help_text = subprocess.run(
        [sys.executable, "-m", "calsync.cli", "serve", "--help"], capture_output=True, timeout=60
    )
    assert b"--port PORT" in help_text.stdout and b"<int>" not in help_text.stdout and b"<bool>" not in help_text.stdout


def test_migrate_against_a_missing_postgres_database_prints_one_line(cli_env: dict[str, str]) -> None:
    url = make_url(postgres_admin_url()).set(database=f"calsync_missing_{uuid.uuid4().hex[:8]}")
    env = {
        **os.environ,
        **cli_env,
        "CALSYNC_DATABASE_URL": url.render_as_string(hide_password=False),
        "CALSYNC_ENCRYPTION_KEYS": generate_key(),
    }
    result = subprocess.run([sys.executable, "-m", "calsync.cli", "migrate"], env=env, capture_output=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "does not exist" in lines[0] and "Traceback" not in result.stderr.decode()


def test_calendars_commands_list_show_sync_and_delete_without_secrets(cli_env: dict[str, str]) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["projects", "create", "acme"])
    project_id = next(word for word in created.output.split() if word.startswith("proj_"))
    calendar_id = asyncio.run(_insert_calendar(project_id))

    listed = runner.invoke(app, ["calendars", "list", project_id])
    assert listed.exit_code == 0 and calendar_id in listed.output and "connected" in listed.output
    shown = runner.invoke(app, ["calendars", "show", calendar_id])
    assert shown.exit_code == 0 and f'"project_id": "{project_id}"' in shown.output
    assert "1//secret-refresh" not in shown.output and "GOCSPX-secret" not in shown.output
    assert runner.invoke(app, ["calendars", "sync", calendar_id]).exit_code == 0
    assert runner.invoke(app, ["calendars", "delete", calendar_id], input="n\n").exit_code == 1, "asks first"
    assert runner.invoke(app, ["calendars", "delete", calendar_id, "--yes"]).exit_code == 0
    assert runner.invoke(app, ["calendars", "show", calendar_id]).exit_code == 1
    assert runner.invoke(app, ["calendars", "list", "proj_nope"]).exit_code == 1


def test_projects_internal_domains_are_cleaned_stored_and_cleared(cli_env: dict[str, str]) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["projects", "create", "acme"])
    project_id = next(word for word in created.output.split() if word.startswith("proj_"))
    domains = runner.invoke(
        app, ["projects", "internal-domains", project_id, "Contoso.TEST", "@acme.test", "acme.test"]
    )
    assert domains.exit_code == 0, domains.output
    assert "acme.test, contoso.test" in domains.output
    assert asyncio.run(_internal_domains(project_id)) == ["acme.test", "contoso.test"]
    cleared = runner.invoke(app, ["projects", "internal-domains", project_id])
    assert cleared.exit_code == 0 and "(none)" in cleared.output
    assert asyncio.run(_internal_domains(project_id)) is None
    assert runner.invoke(app, ["projects", "internal-domains", "proj_nope", "acme.test"]).exit_code == 1


async def _internal_domains(project_object_id: str) -> list[str] | None:
    context = AppContext.from_settings(Settings())
    try:
        async with context.db.read() as session:
            project = await project_queries.get_project(session, project_object_id)
            assert project is not None
            return project.internal_domains
    finally:
        await context.aclose()


async def _insert_calendar(project_object_id: str) -> str:
    context = AppContext.from_settings(Settings())
    try:
        async with context.db.write() as session:
            project = await project_queries.get_project(session, project_object_id)
            assert project is not None
            credentials = context.secrets.encrypt_json(
                {"client_secret": "GOCSPX-secret", "refresh_token": "1//secret-refresh"}
            )
            new = calendar_queries.NewCalendar(
                "google", "client.apps.googleusercontent.com", credentials, None, None, None
            )
            calendar = await calendar_queries.create_calendar(session, project.id, new, context.clock())
            return calendar.object_id
    finally:
        await context.aclose()


def test_the_listening_socket_is_tcp_so_responses_are_not_delayed() -> None:
    """asyncio sets TCP_NODELAY on accepted connections only when the listening socket's proto is IPPROTO_TCP;
    with proto 0 every response written in two parts waited ~40 ms for a delayed ACK (bench/dashboard_pages.py)."""
    from calsync.cli.serve import bind

    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


def test_api_in_two_processes_serves_and_stops_together(cli_env: dict[str, str]) -> None:
    from tests.support.service import free_port

    port = free_port()
    env = {**os.environ, **cli_env, "CALSYNC_LOG_LEVEL": "INFO"}
    process = subprocess.Popen(
        [sys.executable, "-m", "calsync.cli", "api", "--port", str(port), "--processes", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    children: list[int] = []
    try:
        output = b""
        deadline = time.monotonic() + 60
        assert process.stdout is not None
        while output.count(b"Application startup complete") < 2:
            assert time.monotonic() < deadline, output.decode()
            line = process.stdout.readline()
            assert line, output.decode()
            output += line
        children = [int(pid) for pid in Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()]
        assert len(children) == 1
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert client.recv(64).startswith(b"HTTP/1.1 200")
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=60)
        output += rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output.decode()
    assert output.count(b"API key") == 1, "the first run's key is made once, not by each process"
    assert not Path(f"/proc/{children[0]}").exists(), "the forked server stopped with its parent"
