"""A client generated from calsync's OpenAPI document by a real generator works as it is (docs/api.md, "Generated
clients"): openapi-python-client, from its own locked environment (.venv-tools, `make tools`), generates the
package cleanly (any warning about the document is a defect of the document), and the package, imported here,
talks to a calsync served on a real socket with the emulator as its platform: it creates a calendar with the
seed's body, lists the events a sync brought in, and reads the 400s' messages as typed bodies.

Without .venv-tools the test is skipped, or fails under CALSYNC_REQUIRE_TOOLS=1 (.ci/run).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from calsync.api.routes.calendars import DUPLICATE_KEY_MESSAGE
from calsync.runtime import build_app, build_context
from calsync.security.secret_box import generate_key
from calsync.settings import Settings
from calsync_emulator.testing import running_emulator_async
from tests.api.seed import SEED_REQUEST
from tests.support.service import new_tenant, serve_app
from tests.support.settings import emulator_settings
from tests.sync.conftest import sync_once

ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = ROOT / ".venv-tools" / "bin"
GENERATOR = TOOLS_BIN / "openapi-python-client"
PACKAGE = "calsync_client"
GENERATE_TIMEOUT = 180


def openapi_document() -> dict[str, Any]:
    # The document does not depend on the database: an app over an unused in-memory one serves the same.
    context = build_context(Settings(encryption_keys=generate_key(), database_url="sqlite+aiosqlite:///:memory:"))
    return build_app(context).openapi()


def generate(workdir: Path) -> str:
    """Run the generator as docs/api.md tells users to; returns what it printed."""
    document = workdir / "openapi.json"
    document.write_text(json.dumps(openapi_document()))
    result = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(document), "--meta", "none", "--fail-on-warning"],
        cwd=workdir,
        # Its post-generation hooks run `ruff` from PATH: the one locked beside it.
        env={**os.environ, "PATH": f"{TOOLS_BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=GENERATE_TIMEOUT,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


@pytest.fixture(scope="module")
def client_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    if not GENERATOR.exists():
        problem = f"{GENERATOR.relative_to(ROOT)} is missing (`make tools` installs it)"
        if os.environ.get("CALSYNC_REQUIRE_TOOLS") == "1":
            pytest.fail(f"the generated-client test is required (CALSYNC_REQUIRE_TOOLS=1) but {problem}")
        pytest.skip(problem)
    workdir = tmp_path_factory.mktemp("generated-client")
    output = generate(workdir)
    # A clean run says only what it generated: no warnings about the document, no skipped post-processing.
    assert output.split() == ["Generating", str(workdir / PACKAGE)], output
    sys.path.insert(0, str(workdir))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(workdir))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def part(package: ModuleType, name: str) -> ModuleType:
    return importlib.import_module(f"{package.__name__}.{name}")


async def test_a_generated_client_works_as_is(
    client_package: ModuleType, database_url: str, tmp_path: Path, encryption_key: str
) -> None:
    models = part(client_package, "models")
    calendars_api = part(client_package, "api.calendars.create_calendar")
    events_api = part(client_package, "api.calendars.list_calendar_events")
    webhooks_api = part(client_package, "api.webhooks.create_webhook")
    health_api = part(client_package, "api.health.health")
    async with running_emulator_async() as emulator:
        context = build_context(
            emulator_settings(
                emulator,
                database_url=database_url,
                data_dir=tmp_path / "data",
                encryption_keys=encryption_key,
            )
        )
        try:
            async with serve_app(build_app(context)) as url:
                tenant = await new_tenant(context, url, "generated-client")
                await tenant.client.aclose()
                async with emulator.control() as control:
                    # The seed's credentials are an account of the emulator's, with one meeting ahead.
                    credentials = {key: SEED_REQUEST[key] for key in ("client_id", "client_secret", "refresh_token")}
                    account = await control.create_account("google", **credentials)
                    start = (await control.now()) + timedelta(days=1)
                    await control.create_event(
                        account["primary_calendar_id"], start, start + timedelta(minutes=30), summary="Weekly sync"
                    )
                client = client_package.AuthenticatedClient(base_url=url, token=tenant.api_key, prefix="Token")
                async with client:
                    health = await health_api.asyncio(client=client)
                    assert isinstance(health, models.HealthStatus) and health.status == "ok"

                    seed_body = models.CreateCalendarRequest.from_dict(SEED_REQUEST)
                    created = await calendars_api.asyncio_detailed(client=client, body=seed_body)
                    assert created.status_code == 201, created.content
                    calendar = created.parsed
                    assert isinstance(calendar, models.CalendarOut)
                    assert calendar.deduplication_key == SEED_REQUEST["deduplication_key"]
                    assert calendar.metadata.to_dict() == SEED_REQUEST["metadata"]

                    await sync_once(context, calendar.id)
                    listed = await events_api.asyncio_detailed(client=client, calendar_id=calendar.id)
                    assert listed.status_code == 200, listed.content
                    assert isinstance(listed.parsed, models.PaginatedCalendarEventList)
                    assert [event.name for event in listed.parsed.results] == ["Weekly sync"]
                    assert listed.parsed.results[0].calendar_id == calendar.id

                    # A body field's 400: Attendee's field errors, typed.
                    duplicate = await calendars_api.asyncio_detailed(client=client, body=seed_body)
                    assert duplicate.status_code == 400, duplicate.content
                    assert isinstance(duplicate.parsed, models.FieldErrors)
                    assert duplicate.parsed["deduplication_key"] == [DUPLICATE_KEY_MESSAGE]

                    # A parameter's 400: `error`, `code` and `field`, not mistaken for field errors.
                    refused = await events_api.asyncio_detailed(client=client, start_time_gte="tomorrow")
                    assert refused.status_code == 400, refused.content
                    assert isinstance(refused.parsed, models.ErrorMessage)
                    assert refused.parsed.field == "start_time_gte" and "ISO 8601" in refused.parsed.error

                    # The first webhook shows the signing secret once; the typed response carries it.
                    webhook_body = models.CreateWebhookRequest.from_dict(
                        {"url": "https://hooks.example.com/calsync", "triggers": ["calendar.events_update"]}
                    )
                    webhook = await webhooks_api.asyncio(client=client, body=webhook_body)
                    assert isinstance(webhook, models.CreatedWebhook), webhook
                    assert webhook.health.state == "healthy"
                    assert webhook.signing_secret.secret_whsec.startswith("whsec_")
        finally:
            await context.aclose()
