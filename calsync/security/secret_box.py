"""Encryption of secrets at rest (OAuth client secrets, refresh and access tokens).

MultiFernet over every configured key: the first key encrypts, all keys decrypt, so keys can be rotated
(`calsync rotate-keys` re-encrypts every row with the first key)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from calsync.settings import Settings

KEY_FILE_NAME = "encryption.key"


class SecretsConfigError(RuntimeError):
    """The service cannot start safely with the encryption settings it was given."""


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise SecretsConfigError("at least one encryption key is required")
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except (ValueError, TypeError) as exc:
            # Never echo the key material itself.
            raise SecretsConfigError(
                "CALSYNC_ENCRYPTION_KEYS holds a value that is not a Fernet key (32 url-safe base64 bytes)"
            ) from exc
        self._raw_keys = [base64.urlsafe_b64decode(key.encode()) for key in keys]

    def encrypt(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise SecretsConfigError("stored secret cannot be decrypted with any configured key") from exc

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt under the primary key (a no-op in meaning, new ciphertext)."""
        return self._fernet.rotate(token)

    def derived_keys(self, purpose: str) -> list[bytes]:
        """One 32-byte key per configured key, for `purpose` only (HMAC-SHA256 of the purpose under the key: a
        one-block HKDF-Expand), in the same order: the first signs, all verify. Another purpose gets unrelated
        keys, and the encryption keys themselves never leave this object. Used by the dashboard's session cookies
        (calsync.dashboard.session), so putting a new key first keeps sessions valid and dropping the old key
        ends the sessions it signed."""
        info = f"calsync/{purpose}".encode() + b"\x01"
        return [hmac.new(key, info, hashlib.sha256).digest() for key in self._raw_keys]

    def encrypt_json(self, value: dict[str, Any]) -> bytes:
        return self.encrypt(json.dumps(value, separators=(",", ":")).encode())

    def decrypt_json(self, token: bytes) -> dict[str, Any]:
        value = json.loads(self.decrypt(token))
        assert isinstance(value, dict)
        return value


def generate_key() -> str:
    return Fernet.generate_key().decode()


def load_secret_box(settings: Settings) -> SecretBox:
    """Keys from CALSYNC_ENCRYPTION_KEYS; on the embedded SQLite default, a key generated once into the
    data directory (mode 0600). PostgreSQL deployments must configure keys: a key file on one machine
    would leave every other process unable to decrypt."""
    if settings.encryption_keys:
        keys = [key.strip() for key in settings.encryption_keys.split(",") if key.strip()]
        return SecretBox(keys)
    if not settings.is_sqlite:
        raise SecretsConfigError(
            "CALSYNC_ENCRYPTION_KEYS must be set when using PostgreSQL (generate one with `calsync generate-key`)"
        )
    return SecretBox([_key_from_data_dir(settings.data_dir)])


def _key_from_data_dir(data_dir: Path) -> str:
    path = data_dir / KEY_FILE_NAME
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    # O_EXCL: two processes starting at once must not each write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
