"""A small application using calsync's hosted connect (standard library only): it starts a connect session for a
user and receives the user back. See docs/connect.md.

    python3 examples/connect_app.py --calsync http://127.0.0.1:8000 --api-key <key> --port 9200 [--platform google]

Allow its return URL first: `calsync connect return-urls PROJECT_ID http://127.0.0.1:9200/connected`. Then open
http://127.0.0.1:9200/ and press "Connect my calendar". The `state` this app sends is random per attempt and kept in
a cookie, so a return that this browser did not start is refused. A real application also subscribes to the
`connect_session.completed` webhook (examples/webhook_receiver.py), since the browser may never come back.
"""

from __future__ import annotations

import argparse
import html
import json
import secrets
import urllib.request
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

STATE_COOKIE = "connect_state"


@dataclass
class App:
    calsync_url: str
    api_key: str
    public_url: str
    platform: str | None = None
    pending: dict[str, str] = field(default_factory=dict)  # state -> user
    connected: dict[str, str] = field(default_factory=dict)  # user -> calendar id

    def start_session(self, user: str) -> tuple[str, str]:
        """Create a connect session for `user`; returns (the URL to send the browser to, the state)."""
        state = secrets.token_urlsafe(24)
        body: dict[str, Any] = {
            "return_url": f"{self.public_url}/connected",
            "state": state,
            # One calendar per user: connecting again reconnects it (same id, events and bots).
            "deduplication_key": f"user-{user}",
            "metadata": {"user": user},
        }
        if self.platform:
            body["platform"] = self.platform
        request = urllib.request.Request(  # noqa: S310 (the configured calsync URL)
            f"{self.calsync_url}/api/v1/connect_sessions",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Token {self.api_key}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            created = json.loads(response.read())
        self.pending[state] = user
        return str(created["url"]), state

    def finish(self, query: dict[str, str], cookie_state: str | None) -> str:
        """The page for the user's return: calsync adds calendar_id (or error) and our state."""
        state = query.get("state", "")
        if not state or state != cookie_state or state not in self.pending:
            return "This return was not started here."
        user = self.pending.pop(state)
        if "error" in query:
            return f"Your calendar was not connected ({query['error']})."
        self.connected[user] = query["calendar_id"]
        return f"Connected calendar {query['calendar_id']} for {user}."


def make_handler(app: App) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _page(self, text: str, status: int = 200, headers: dict[str, str] | None = None) -> None:
            body = (
                "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
                f"<title>Example app</title><p id=message>{html.escape(text)}</p>"
                "<form method=get action=/connect><input type=hidden name=user value=alice>"
                "<button>Connect my calendar</button></form>"
            ).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "text/html; charset=utf-8", **(headers or {})}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if parts.path == "/connect":
                url, state = app.start_session(query.get("user", "alice"))
                self.send_response(303)
                self.send_header("Location", url)
                self.send_header("Set-Cookie", f"{STATE_COOKIE}={state}; Path=/; HttpOnly; SameSite=Lax")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif parts.path == "/connected":
                cookies = SimpleCookie(self.headers.get("Cookie", ""))
                cookie = cookies.get(STATE_COOKIE)
                self._page(app.finish(query, cookie.value if cookie else None))
            else:
                self._page("Connect your calendar to get started.")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the query holds the state: not printed

    return Handler


def serve(app: App, host: str, port: int) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), make_handler(app))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calsync", required=True, help="calsync's base URL")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9200)
    parser.add_argument("--platform", choices=["google", "microsoft"], help="default: the user chooses")
    args = parser.parse_args()
    app = App(args.calsync.rstrip("/"), args.api_key, f"http://{args.host}:{args.port}", args.platform)
    server = serve(app, args.host, args.port)
    print(f"Open http://{args.host}:{args.port}/")
    server.serve_forever()


if __name__ == "__main__":
    main()
