"""Secrets at rest: encrypted, rotatable, never in responses."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select

from calsync.context import AppContext
from calsync.security.secret_box import SecretBox, SecretsConfigError, generate_key, load_secret_box
from calsync.settings import Settings
from calsync.store.db import Database
from calsync.store.models import Calendar
from calsync.store.rotate_keys import rotate_secrets
from tests.api.seed import SEED_REQUEST
from tests.support.service import Tenant


async def test_database_file_holds_no_clear_text_secrets(
    tenant: Tenant, context: AppContext, settings: Settings
) -> None:
    if not context.db.is_sqlite:
        pytest.skip("inspects the SQLite file itself")
    response = await tenant.client.post("/api/v1/calendars", json=SEED_REQUEST)
    assert response.status_code == 201
    await context.db.dispose()
    raw = await asyncio.to_thread(_database_bytes, Path(settings.resolved_database_url.split(":///", 1)[1]))
    assert SEED_REQUEST["client_secret"].encode() not in raw
    assert SEED_REQUEST["refresh_token"].encode() not in raw
    assert SEED_REQUEST["client_id"].encode() in raw, "sanity: the file does hold the calendar"


def _database_bytes(path: Path) -> bytes:
    """The main file after a checkpoint, plus any WAL left: everything SQLite has written."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(FULL)")
    connection.close()
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def test_secrets_round_trip_and_never_appear_in_responses(tenant: Tenant, context: AppContext) -> None:
    created = await tenant.client.post("/api/v1/calendars", json=SEED_REQUEST)
    listed = await tenant.client.get("/api/v1/calendars")
    for response in (created, listed):
        assert SEED_REQUEST["client_secret"] not in response.text
        assert SEED_REQUEST["refresh_token"] not in response.text
    async with context.db.read() as session:
        row = (await session.execute(select(Calendar))).scalar_one()
    assert context.secrets.decrypt_json(row.encrypted_credentials) == {
        "client_secret": SEED_REQUEST["client_secret"],
        "refresh_token": SEED_REQUEST["refresh_token"],
    }


async def test_key_rotation(tenant: Tenant, context: AppContext, settings: Settings, encryption_key: str) -> None:
    assert (await tenant.client.post("/api/v1/calendars", json=SEED_REQUEST)).status_code == 201
    new_key = generate_key()
    rotated_box = SecretBox([new_key, encryption_key])  # new primary, old still decrypts
    db = Database(settings.resolved_database_url)
    try:
        progress: list[tuple[int, int]] = []
        assert await rotate_secrets(db, rotated_box, lambda done, total: progress.append((done, total))) == 1
        assert progress == [(1, 1)]
        async with db.read() as session:
            row = (await session.execute(select(Calendar))).scalar_one()
    finally:
        await db.dispose()
    only_new = SecretBox([new_key])
    assert only_new.decrypt_json(row.encrypted_credentials)["refresh_token"] == SEED_REQUEST["refresh_token"]
    with pytest.raises(SecretsConfigError):
        SecretBox([encryption_key]).decrypt(row.encrypted_credentials)


def test_embedded_default_generates_a_private_key_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", encryption_keys=None, database_url=None)
    box = load_secret_box(settings)
    key_file = tmp_path / "d" / "encryption.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    again = load_secret_box(settings)
    assert again.decrypt(box.encrypt(b"x")) == b"x", "the same key is used on the next start"


def test_postgres_refuses_to_start_without_keys(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, encryption_keys=None, database_url="postgresql+asyncpg://x@127.0.0.1/db")
    with pytest.raises(SecretsConfigError, match="CALSYNC_ENCRYPTION_KEYS"):
        load_secret_box(settings)


def test_bad_key_message_does_not_echo_the_key() -> None:
    with pytest.raises(SecretsConfigError) as info:
        SecretBox(["not-a-real-key-but-a-secret"])
    assert "not-a-real-key" not in str(info.value)
