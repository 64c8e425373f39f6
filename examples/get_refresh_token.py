"""Get a refresh token for your own account from your own OAuth app, to try calsync with a real calendar.

Runs the authorization-code flow with PKCE on a loopback redirect: it prints a URL, you consent in a browser,
the platform redirects to http://127.0.0.1:PORT/ (Google) or http://localhost:PORT/ (Microsoft), and the script
exchanges the code and prints the refresh token. Standard library only. Register that redirect URI first
(docs/google.md, docs/microsoft.md).

    python3 examples/get_refresh_token.py google --client-id ID --client-secret SECRET
    python3 examples/get_refresh_token.py microsoft --client-id ID --client-secret SECRET [--tenant common]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.server
import json
import secrets
import sys
import urllib.parse
import urllib.request
from dataclasses import dataclass


@dataclass(frozen=True)
class Platform:
    authorize_url: str
    token_url: str
    scope: str
    redirect_host: str
    extra: dict[str, str]


def platform(name: str, tenant: str) -> Platform:
    if name == "google":
        return Platform(
            authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
            token_url="https://oauth2.googleapis.com/token",
            scope="https://www.googleapis.com/auth/calendar.readonly",
            redirect_host="127.0.0.1",
            # Without offline access Google returns no refresh token; `consent` makes it issue one every time.
            extra={"access_type": "offline", "prompt": "consent"},
        )
    return Platform(
        authorize_url=f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
        token_url=f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
        scope="offline_access https://graph.microsoft.com/Calendars.Read",
        redirect_host="localhost",  # Microsoft allows plain http only for localhost
        extra={"response_mode": "query", "prompt": "select_account"},
    )


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorization_url(p: Platform, client_id: str, redirect_uri: str, state: str, challenge: str) -> str:
    query = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": p.scope,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **p.extra,
    }
    return f"{p.authorize_url}?{urllib.parse.urlencode(query)}"


def wait_for_code(port: int, state: str) -> str:
    """Serve one redirect on 127.0.0.1:port and return its `code` (checking `state`)."""
    result: dict[str, str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
            result.update(params)
            ok = params.get("state") == state and "code" in params
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"Done: return to the terminal." if ok else b"Consent failed: see the terminal.")

        def log_message(self, *_args: object) -> None:
            return

    with http.server.HTTPServer(("127.0.0.1", port), Handler) as server:
        while "code" not in result and "error" not in result:
            server.handle_request()
    if result.get("state") != state:
        sys.exit("error: the redirect's state does not match (another browser tab?)")
    if "error" in result:
        sys.exit(f"error: {result['error']}: {result.get('error_description', '')}")
    return result["code"]


def exchange(p: Platform, client_id: str, client_secret: str, code: str, redirect_uri: str, verifier: str) -> dict:
    form = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "client_secret": client_secret,
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    if p.redirect_host == "localhost":
        form["scope"] = p.scope
    # The token URL is one of the two https constants above, never user input.
    request = urllib.request.Request(p.token_url, data=urllib.parse.urlencode(form).encode(), method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return dict(json.load(response))
    except urllib.error.HTTPError as exc:
        sys.exit(f"error: token exchange failed ({exc.code}): {exc.read().decode(errors='replace')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("platform", choices=("google", "microsoft"))
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--tenant", default="common", help="Microsoft only: common, organizations, or a tenant id")
    args = parser.parse_args()

    p = platform(args.platform, args.tenant)
    redirect_uri = f"http://{p.redirect_host}:{args.port}/"
    state = secrets.token_urlsafe(16)
    verifier, challenge = pkce_pair()
    print("Open this URL in a browser and consent:\n")
    print(authorization_url(p, args.client_id, redirect_uri, state, challenge), "\n", flush=True)
    code = wait_for_code(args.port, state)
    tokens = exchange(p, args.client_id, args.client_secret, code, redirect_uri, verifier)
    refresh_token = tokens.get("refresh_token")
    if not refresh_token:
        sys.exit("error: no refresh_token in the reply (Google: consent again; Microsoft: is offline_access granted?)")
    print("refresh_token:", refresh_token)
    print(
        "\nHand it to calsync: POST /api/v1/calendars with "
        + json.dumps(
            {"platform": args.platform, "client_id": args.client_id, "client_secret": "…", "refresh_token": "…"}
        )
    )


if __name__ == "__main__":
    main()
