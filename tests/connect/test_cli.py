"""`calsync connect …`: set a project's OAuth apps and return URLs; the secret is asked for and never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from calsync.cli import app


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALSYNC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CALSYNC_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("CALSYNC_PUBLIC_URL", "https://calsync.example.com")
    monkeypatch.delenv("CALSYNC_DATABASE_URL", raising=False)
    monkeypatch.delenv("CALSYNC_ENCRYPTION_KEYS", raising=False)


def test_connect_settings_from_the_command_line(cli_env: None) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["projects", "create", "acme"])
    project_id = next(word for word in created.output.split() if word.startswith("proj_"))

    set_app = runner.invoke(
        app, ["connect", "set-app", project_id, "google", "--client-id", "abc.apps"], input="very-secret\n"
    )
    assert set_app.exit_code == 0, set_app.output
    urls = runner.invoke(app, ["connect", "return-urls", project_id, "https://app.example.com/back"])
    assert urls.exit_code == 0, urls.output
    shown = runner.invoke(app, ["connect", "show", project_id], terminal_width=200)
    assert "abc.apps" in shown.output
    assert "https://calsync.example.com/connect/callback/google" in shown.output
    assert "https://calsync.example.com/connect/callback/microsoft" in shown.output
    assert "https://app.example.com/back" in shown.output
    assert "very-secret" not in shown.output

    bad = runner.invoke(app, ["connect", "return-urls", project_id, "http://evil.example.com/"])
    assert bad.exit_code == 1 and "https" in bad.output
    removed = runner.invoke(app, ["connect", "remove-app", project_id, "google"])
    assert "google: not configured" in removed.output
    assert runner.invoke(app, ["connect", "show", "proj_nope"]).exit_code == 1
