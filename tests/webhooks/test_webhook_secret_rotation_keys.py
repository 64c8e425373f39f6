"""`calsync rotate-keys` re-encrypts webhook signing secrets too (and they keep signing the same)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from calsync.context import AppContext
from calsync.security.secret_box import SecretBox, SecretsConfigError, generate_key
from calsync.store.models import WebhookSecret
from calsync.store.rotate_keys import rotate_secrets
from calsync.webhooks.signing import parse_secret
from tests.support.service import Tenant
from tests.webhooks.support import create_webhook


async def test_rotate_keys_reencrypts_webhook_secrets(tenant: Tenant, context: AppContext, encryption_key: str) -> None:
    created = await create_webhook(tenant, "https://hooks.example.com/")
    await tenant.client.post("/api/v1/webhook_secret/rotate")
    new_key = generate_key()
    await rotate_secrets(context.db, SecretBox([new_key, encryption_key]))
    async with context.db.read() as session:
        rows = (await session.execute(select(WebhookSecret).order_by(WebhookSecret.id))).scalars().all()
    assert len(rows) == 2
    only_new = SecretBox([new_key])
    assert only_new.decrypt(rows[0].encrypted_secret) == parse_secret(created["signing_secret"]["secret"])
    with pytest.raises(SecretsConfigError):
        SecretBox([encryption_key]).decrypt(rows[1].encrypted_secret)
