"""Signature test vectors for both schemes, rotation, and verification failures."""

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from calsync.webhooks.signing import (
    SECRET_BYTES,
    WebhookVerificationError,
    attendee_signature,
    build_headers,
    canonical_json,
    generate_secret,
    parse_secret,
    secret_to_base64,
    secret_to_whsec,
    verify_attendee,
    verify_standard,
)

SECRET = bytes(range(32))  # fixed key: 00 01 02 … 1f
OLD_SECRET = bytes(range(100, 132))
PAYLOAD = {
    "trigger": "calendar.events_update",
    "idempotency_key": "7b0d3f7e-1a2b-4c5d-8e9f-0a1b2c3d4e5f",
    "calendar_id": "cal_abcdefghijklmnop",
    "calendar_deduplication_key": None,
    "calendar_metadata": {"team": "Zürich", "n": 1},
    "data": {"state": "connected", "changes": {"truncated": False}},
}
WEBHOOK_ID = "7b0d3f7e-1a2b-4c5d-8e9f-0a1b2c3d4e5f"
TIMESTAMP = 1767225600  # 2026-01-01T00:00:00Z

# Written out by hand (not produced by canonical_json) so a change in key order, separators or escaping shows.
EXPECTED_CANONICAL = (
    '{"calendar_deduplication_key":null,"calendar_id":"cal_abcdefghijklmnop",'
    '"calendar_metadata":{"n":1,"team":"Zürich"},"data":{"changes":{"truncated":false},"state":"connected"},'
    '"idempotency_key":"7b0d3f7e-1a2b-4c5d-8e9f-0a1b2c3d4e5f","trigger":"calendar.events_update"}'
).encode()


def _b64_hmac(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def test_canonical_json_is_attendees_form():
    assert canonical_json(PAYLOAD) == EXPECTED_CANONICAL


def test_attendee_signature_vector():
    expected = _b64_hmac(SECRET, EXPECTED_CANONICAL)
    assert attendee_signature(SECRET, PAYLOAD) == expected
    # Pinned literal, computed once with `openssl dgst -sha256 -mac HMAC` over the bytes above.
    assert expected == "xoMgvlY+O4UMttciOD14xwssuIxNqzFCoOBrjct7YSY="


def test_standard_signature_vector():
    headers = build_headers(EXPECTED_CANONICAL, secrets=[SECRET], webhook_id=WEBHOOK_ID, timestamp=TIMESTAMP)
    signed = f"{WEBHOOK_ID}.{TIMESTAMP}.".encode() + EXPECTED_CANONICAL
    assert headers["webhook-signature"] == "v1," + _b64_hmac(SECRET, signed)
    assert headers["webhook-signature"] == "v1,yBYrJPFVCenmyOPMosGeE1kLAKV9bn6lQ0ZttJr0cKM="  # openssl, as above
    assert headers["webhook-id"] == WEBHOOK_ID
    assert headers["webhook-timestamp"] == str(TIMESTAMP)
    assert headers["X-Webhook-Signature"] == _b64_hmac(SECRET, EXPECTED_CANONICAL)
    assert headers["Content-Type"] == "application/json"


def test_rotation_signs_with_both_secrets_and_attendee_uses_newest():
    body = canonical_json(PAYLOAD)
    headers = build_headers(body, secrets=[SECRET, OLD_SECRET], webhook_id=WEBHOOK_ID, timestamp=TIMESTAMP)
    signatures = headers["webhook-signature"].split(" ")
    signed = f"{WEBHOOK_ID}.{TIMESTAMP}.".encode() + body
    assert signatures == ["v1," + _b64_hmac(SECRET, signed), "v1," + _b64_hmac(OLD_SECRET, signed)]
    assert headers["X-Webhook-Signature"] == _b64_hmac(SECRET, body)
    # A receiver holding only the old secret, only the new one, or both, verifies.
    for keys in ([SECRET], [OLD_SECRET], [OLD_SECRET, SECRET]):
        verify_standard(keys, headers, body, now=TIMESTAMP)
    verify_attendee(SECRET, body, headers["X-Webhook-Signature"])
    with pytest.raises(WebhookVerificationError):
        verify_standard([bytes(32)], headers, body, now=TIMESTAMP)


def test_attendee_receiver_verifies_non_canonical_body():
    # Attendee sends requests' json= encoding (spaces, ascii escapes); receivers re-canonicalise, so must we accept.
    sloppy = json.dumps(PAYLOAD).encode()
    verify_attendee(SECRET, sloppy, attendee_signature(SECRET, PAYLOAD))


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda h, b: (h, b.replace(b"connected", b"disconnect")), id="tampered-body"),
        pytest.param(lambda h, b: ({**h, "webhook-timestamp": str(TIMESTAMP + 1)}, b), id="wrong-timestamp"),
        pytest.param(lambda h, b: ({**h, "webhook-id": "other"}, b), id="wrong-id"),
        pytest.param(lambda h, b: ({**h, "webhook-signature": "v1,AAAA"}, b), id="garbage-signature"),
        pytest.param(lambda h, b: ({k: v for k, v in h.items() if k != "webhook-id"}, b), id="missing-header"),
    ],
)
def test_standard_verification_failures(mutate):
    body = canonical_json(PAYLOAD)
    headers = build_headers(body, secrets=[SECRET], webhook_id=WEBHOOK_ID, timestamp=TIMESTAMP)
    bad_headers, bad_body = mutate(headers, body)
    with pytest.raises(WebhookVerificationError):
        verify_standard(SECRET, bad_headers, bad_body, now=TIMESTAMP)


def test_standard_rejects_old_and_future_timestamps_and_accepts_any_header_case():
    body = canonical_json(PAYLOAD)
    headers = build_headers(body, secrets=[SECRET], webhook_id=WEBHOOK_ID, timestamp=TIMESTAMP)
    verify_standard(SECRET, {k.upper(): v for k, v in headers.items()}, body, now=TIMESTAMP + 300)
    for now in (TIMESTAMP + 301, TIMESTAMP - 301):
        with pytest.raises(WebhookVerificationError, match="tolerance"):
            verify_standard(SECRET, headers, body, now=now)


def test_attendee_verification_failures():
    body = canonical_json(PAYLOAD)
    signature = attendee_signature(SECRET, PAYLOAD)
    with pytest.raises(WebhookVerificationError):
        verify_attendee(SECRET, body.replace(b"Z\xc3\xbcrich", b"Zurich"), signature)
    with pytest.raises(WebhookVerificationError):
        verify_attendee(OLD_SECRET, body, signature)
    with pytest.raises(WebhookVerificationError):
        verify_attendee(SECRET, b"not json", signature)


def test_secret_generation_and_renderings():
    first, second = generate_secret(), generate_secret()
    assert len(first) == SECRET_BYTES and first != second
    assert secret_to_whsec(SECRET) == "whsec_" + base64.b64encode(SECRET).decode()
    assert parse_secret(secret_to_whsec(SECRET)) == SECRET
    assert parse_secret(secret_to_base64(SECRET)) == SECRET
    with pytest.raises(ValueError):
        parse_secret("whsec_not*base64")


def test_build_headers_requires_a_secret_and_canonical_json_refuses_nan():
    with pytest.raises(ValueError):
        build_headers(b"{}", secrets=[], webhook_id="x", timestamp=0)
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_receiver_example_in_docs_verifies_a_real_request():
    # The README-style example must keep working against what we actually send.
    import re
    import time
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "webhooks.md").read_text()
    [snippet] = [block for block in re.findall(r"```python\n(.*?)```", doc, re.S) if "def verify(" in block]
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)
    verify = namespace["verify"]

    body = canonical_json(PAYLOAD)
    now = int(time.time())
    headers = build_headers(body, secrets=[SECRET, OLD_SECRET], webhook_id=WEBHOOK_ID, timestamp=now)
    assert verify(secret_to_whsec(SECRET), headers, body) == PAYLOAD
    with pytest.raises(ValueError):
        verify(secret_to_base64(SECRET), headers, body.replace(b"connected", b"disconnect"))
    stale = build_headers(body, secrets=[SECRET], webhook_id=WEBHOOK_ID, timestamp=now - 3600)
    with pytest.raises(ValueError, match="stale"):
        verify(secret_to_base64(SECRET), stale, body)
