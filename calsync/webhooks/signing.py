"""Webhook signatures in two schemes at once.

* Attendee-compatible: `X-Webhook-Signature` = base64(HMAC-SHA256(secret, canonical JSON of the payload)),
  signed with the newest secret only, so receivers written for Attendee verify unchanged.
* Standard Webhooks (https://www.standardwebhooks.com): `webhook-id`, `webhook-timestamp` and
  `webhook-signature` = space-separated `v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`, one per
  active secret, so during a rotation receivers holding either the old or the new secret verify. The timestamp is
  signed, which lets receivers reject replays.

The body we send *is* the canonical JSON, so a receiver may verify the raw bytes or re-canonicalise the parsed
JSON (what Attendee receivers do); both give the same bytes.

The two `verify_*` functions use only the standard library on purpose: they are the receiver example in
docs/webhooks.md and can be copied into a receiver as they are.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets as _secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

SECRET_BYTES = 32
WHSEC_PREFIX = "whsec_"
DEFAULT_TOLERANCE_SECONDS = 300

ATTENDEE_SIGNATURE_HEADER = "X-Webhook-Signature"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


class WebhookVerificationError(Exception):
    """A webhook failed verification; the message says why."""


def generate_secret() -> bytes:
    """A new signing secret: 32 random bytes (the HMAC key itself)."""
    return _secrets.token_bytes(SECRET_BYTES)


def secret_to_base64(secret: bytes) -> str:
    """How Attendee shows a secret to users: plain base64 of the key bytes."""
    return base64.b64encode(secret).decode("ascii")


def secret_to_whsec(secret: bytes) -> str:
    """How Standard Webhooks libraries expect a secret: `whsec_` + base64 of the key bytes."""
    return WHSEC_PREFIX + secret_to_base64(secret)


def parse_secret(text: str) -> bytes:
    """The key bytes from either rendering (`whsec_…` or plain base64)."""
    raw = text.removeprefix(WHSEC_PREFIX)
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError as exc:
        raise ValueError("secret is not base64") from exc


def canonical_json(payload: Mapping[str, Any]) -> bytes:
    """Exactly Attendee's canonical form (sort_keys, no whitespace, raw UTF-8).

    allow_nan=False: NaN/Infinity are not JSON; failing here beats sending a body receivers cannot parse.
    """
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
        "utf-8"
    )


def _hmac_b64(secret: bytes, message: bytes) -> str:
    # hmac.digest: OpenSSL's one-shot HMAC, without the Python-level HMAC object (two per delivery).
    return base64.b64encode(hmac.digest(secret, message, "sha256")).decode("ascii")


def attendee_signature(secret: bytes, payload: Mapping[str, Any]) -> str:
    return _hmac_b64(secret, canonical_json(payload))


def standard_signature(secret: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` entry of the `webhook-signature` header."""
    message = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + _hmac_b64(secret, message)


def build_headers(body: bytes, *, secrets: Sequence[bytes], webhook_id: str, timestamp: int) -> dict[str, str]:
    """Signature headers for one attempt.

    `body` must be `canonical_json(payload)` (then the Attendee signature over the canonical payload equals the
    HMAC of the body). `secrets` are the active secrets, newest first; `webhook_id` is the delivery's idempotency
    key (the same on every retry); `timestamp` is the unix time of this attempt.
    """
    if not secrets:
        raise ValueError("at least one signing secret is required")
    return {
        "Content-Type": "application/json",
        ATTENDEE_SIGNATURE_HEADER: _hmac_b64(secrets[0], body),
        ID_HEADER: webhook_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: " ".join(standard_signature(s, webhook_id, timestamp, body) for s in secrets),
    }


# --- Receiver side (standard library only; see docs/webhooks.md) ---


def verify_attendee(secret: bytes, body: bytes, signature: str) -> None:
    """Verify `X-Webhook-Signature` the way an Attendee receiver does: re-canonicalise, HMAC, compare.

    No timestamp is signed in this scheme, so it cannot detect replays; use the idempotency key for that.
    """
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise WebhookVerificationError("body is not JSON") from exc
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    expected = base64.b64encode(hmac.new(secret, canonical, hashlib.sha256).digest()).decode("ascii")
    if not hmac.compare_digest(expected, signature.strip()):
        raise WebhookVerificationError("signature mismatch")


def verify_standard(
    secrets: bytes | Sequence[bytes],
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: int | None = None,
) -> None:
    """Verify the Standard Webhooks headers over the raw body; accepts any of the receiver's secrets.

    Rejects timestamps further than `tolerance_seconds` from now (replays) before comparing signatures.
    """
    keys = [secrets] if isinstance(secrets, bytes) else list(secrets)
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, ts_text, sig_header = lower.get(ID_HEADER), lower.get(TIMESTAMP_HEADER), lower.get(SIGNATURE_HEADER)
    if not msg_id or not ts_text or not sig_header:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(ts_text)
    except ValueError as exc:
        raise WebhookVerificationError("bad webhook-timestamp") from exc
    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise WebhookVerificationError("timestamp outside tolerance")
    message = f"{msg_id}.{timestamp}.".encode() + body
    offered = [part.partition(",")[2] for part in sig_header.split() if part.startswith("v1,")]
    for key in keys:
        expected = base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode("ascii")
        # Compare against every offered signature without short-circuiting on the first mismatch's position.
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return
    raise WebhookVerificationError("no matching signature")
