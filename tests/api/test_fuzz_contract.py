"""The fuzz suite: schemathesis drives the whole API from its own `/openapi.json` with every check on
(`schemathesis run --checks all`: no 5xx, documented statuses, headers and bodies, schema-invalid requests
refused, schema-valid ones accepted, stateful links), on SQLite and PostgreSQL, against a served calsync with a
calendar and events in it and the emulator as its platform. Any response >= 500 or exception the server sees
fails the test, whatever schemathesis concluded.

Bounded to CALSYNC_FUZZ_EXAMPLES cases per operation and phase (default 50: about a minute per database on two
cores) with a fixed seed, so CI is reproducible; set CALSYNC_FUZZ_SEED (and raise the count) for a new campaign.
The rules JSON Schema cannot state are kept in tests/api/fuzz_hooks.py.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from calsync.context import AppContext
from calsync.runtime import build_app, build_context
from calsync.webhooks import queries as webhook_queries
from calsync_emulator.testing import running_emulator_async
from tests.support.factories import insert_events
from tests.support.service import new_tenant, serve_app
from tests.support.settings import emulator_settings

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
MAX_EXAMPLES = os.environ.get("CALSYNC_FUZZ_EXAMPLES", "50")
SEED = os.environ.get("CALSYNC_FUZZ_SEED", "1414")
RUN_TIMEOUT = 600


class ServerErrors:
    """Outermost ASGI wrapper: remembers every response >= 500 and every exception that escapes the app, so the
    suite fails on a server error even where a check would not report it (a logged `internal_error`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        where = f"{scope['method']} {scope['path']}?{scope['query_string'].decode('latin-1')}"

        async def watching_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 500:
                self.seen.append(f"{message['status']} {where}")
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        except Exception as exc:
            self.seen.append(f"{type(exc).__name__} {where}: {exc}")
            raise


async def _seed(context: AppContext, client: Any, emulator_control: Any) -> None:
    """Something to find: a calendar the emulator knows (its platform calendars list), 150 events (two pages
    and cursors), and a webhook."""
    account = await emulator_control.create_account("google")
    created = await client.post(
        "/api/v1/calendars",
        json={key: account[key] for key in ("platform", "client_id", "client_secret", "refresh_token")},
    )
    assert created.status_code == 201, created.text
    start = datetime(2026, 3, 1, 9, tzinfo=UTC)
    await insert_events(context, created.json()["id"], 150, start=start, step=timedelta(hours=7))
    webhook = await client.post(
        "/api/v1/webhooks", json={"url": "https://hooks.example.com/calsync", "triggers": ["calendar.state_change"]}
    )
    assert webhook.status_code == 201, webhook.text


@pytest.mark.timeout(RUN_TIMEOUT + 60)
async def test_schemathesis_all_checks(
    database_url: str, tmp_path: Path, encryption_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Creations are tested by the hundred: the per-project cap on webhooks is a rule of its own (tested there).
    monkeypatch.setattr(webhook_queries, "MAX_WEBHOOKS_PER_PROJECT", 1_000_000)
    async with running_emulator_async() as emulator:
        settings = emulator_settings(
            emulator,
            database_url=database_url,
            data_dir=tmp_path / "data",
            encryption_keys=encryption_key,
            disable_rate_limiting=True,
        )
        context = build_context(settings)
        errors = ServerErrors(build_app(context))
        try:
            async with serve_app(errors) as url:
                tenant = await new_tenant(context, url, "fuzz")
                async with emulator.control() as control:
                    await _seed(context, tenant.client, control)
                await tenant.client.aclose()
                returncode, output = await _run_schemathesis(url, tenant.api_key, tmp_path)
        finally:
            await context.aclose()
    assert errors.seen == [], "\n".join(errors.seen)
    assert returncode == 0, output[-20000:]


async def _run_schemathesis(url: str, api_key: str, workdir: Path) -> tuple[int | None, str]:
    # Run in `workdir`: schemathesis keeps a cache of crashes (replayed first next time) in ./.schemathesis.
    process = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS),
        "run",
        f"{url}/openapi.json",
        "--checks=all",
        f"--header=Authorization: Token {api_key}",
        f"--max-examples={MAX_EXAMPLES}",
        f"--seed={SEED}",
        "--workers=1",
        "--generation-database=none",
        # The hooks drop every valid case of the stateful bodies (fuzz_hooks.STATEFUL_BODIES) on purpose: for those
        # operations the "too much filtered" health check says only that.
        "--suppress-health-check=filter_too_much",
        "--request-timeout=30",
        "--no-color",
        cwd=workdir,
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.api.fuzz_hooks", "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
    return process.returncode, stdout.decode(errors="replace")
