"""`calsync rotate-keys` re-encrypts hosted connect's client secrets and PKCE verifiers too."""

from __future__ import annotations

import pytest

from calsync.context import AppContext
from calsync.security.secret_box import SecretBox, SecretsConfigError, generate_key
from calsync.store.models import ConnectSession, ConnectSettings
from calsync.store.rotate_keys import rotate_secrets
from tests.connect.support import GOOGLE_CLIENT, Browser, Connect


async def test_rotation_covers_connect_secrets(connect: Connect, context: AppContext, encryption_key: str) -> None:
    browser = Browser()
    await connect.run("google", browser)  # a session waiting at the consent screen holds a verifier
    new_key = generate_key()
    await rotate_secrets(context.db, SecretBox([new_key, encryption_key]))
    only_new = SecretBox([new_key])
    async with context.db.read() as session:
        settings = await session.get(ConnectSettings, connect.tenant.project_id)
        assert settings is not None and settings.google_encrypted_secret is not None
        assert only_new.decrypt(settings.google_encrypted_secret).decode() == GOOGLE_CLIENT[1]
        with pytest.raises(SecretsConfigError):
            SecretBox([encryption_key]).decrypt(settings.google_encrypted_secret)
        rows = (await session.execute(ConnectSession.__table__.select())).all()
        verifiers = [row.encrypted_verifier for row in rows if row.encrypted_verifier is not None]
        assert len(verifiers) == 1 and only_new.decrypt(verifiers[0])
    await browser.aclose()
