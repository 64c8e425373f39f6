"""A minimal calsync webhook receiver (standard library only): verifies both signatures and prints each event.

python3 examples/webhook_receiver.py --port 9000 --secret <signing secret from POST /api/v1/webhooks>
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import time
from http.server import BaseHTTPRequestHandler, HTTPServer


def verify(secret_b64: str, headers: dict[str, str], body: bytes) -> dict:
    key = base64.b64decode(secret_b64.removeprefix("whsec_"))
    h = {k.lower(): v for k, v in headers.items()}

    def sign(message: bytes) -> str:
        return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()

    if abs(time.time() - int(h["webhook-timestamp"])) > 300:
        raise ValueError("stale webhook")
    expected = sign(f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode() + body)
    if not any(hmac.compare_digest(expected, s.removeprefix("v1,")) for s in h["webhook-signature"].split()):
        raise ValueError("bad webhook-signature")
    payload = json.loads(body)
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    if not hmac.compare_digest(sign(canonical), h["x-webhook-signature"]):
        raise ValueError("bad X-Webhook-Signature")
    return payload


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    seen: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                payload = verify(args.secret, dict(self.headers), body)
            except (ValueError, KeyError) as exc:
                print("rejected:", exc, flush=True)
                self.send_response(400)
                self.end_headers()
                return
            self.send_response(204)
            self.end_headers()
            if payload["idempotency_key"] in seen:  # at-least-once delivery: drop repeats
                return
            seen.add(payload["idempotency_key"])
            print(json.dumps({"verified": True, **payload}, indent=2), flush=True)

        def log_message(self, *_: object) -> None:
            return

    HTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
