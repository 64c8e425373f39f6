"""Draws docs/images/connect/sequence.svg, the hosted connect sequence of docs/connect.md (standard library only,
no network): `python3 docs/images/connect/sequence.py`."""

from __future__ import annotations

from html import escape
from pathlib import Path

PARTICIPANTS = ["Browser", "Application", "calsync", "Google / Microsoft"]
# (from, to, label); from == to is a note on that lifeline.
STEPS = [
    (1, 2, "POST /api/v1/connect_sessions {return_url, state, deduplication_key, …}"),
    (2, 1, "201 {id, url, expires_at}"),
    (1, 0, "303 to url"),
    (0, 2, "GET /connect/open/{token}: the link is spent, a signed cookie binds the browser"),
    (2, 0, "the chooser (skipped when the session names its platform)"),
    (0, 2, "POST /connect/authorize (CSRF token)"),
    (2, 2, "new state + PKCE verifier (S256), bound to the session"),
    (2, 0, "303 to the authorization endpoint (read-only scope; Google: offline + consent; MS: offline_access)"),
    (0, 3, "sign in, choose the account, tick the scopes, Allow or Deny"),
    (3, 0, "302 to /connect/callback/{platform}?code=…&state=… (or error=…)"),
    (0, 2, "GET the callback: state, platform and cookie must all match; used once"),
    (2, 3, "POST token: code + code_verifier + client secret"),
    (3, 2, "access token, refresh token, granted scope"),
    (2, 2, "scope checked; calendar created or reconnected; connect_session.completed queued"),
    (2, 0, "303 to return_url?calendar_id=…&state=… (failures: ?error=…&state=…)"),
    (0, 1, "GET return_url"),
    (2, 1, "webhook connect_session.completed / .failed (signed; the browser may never come back)"),
]

WIDTH, COLUMN, TOP, ROW = 1240, 250, 70, 38


def x_of(index: int) -> int:
    return 130 + index * COLUMN


def draw() -> str:
    height = TOP + ROW * (len(STEPS) + 1) + 20
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        'font-family="sans-serif" font-size="12">',
        '<defs><marker id="a" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#24292f"/></marker></defs>',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
    ]
    for index, name in enumerate(PARTICIPANTS):
        x = x_of(index)
        out.append(f'<rect x="{x - 80}" y="15" width="160" height="32" rx="6" fill="#ddf4ff" stroke="#0969da"/>')
        out.append(f'<text x="{x}" y="36" text-anchor="middle" font-weight="bold">{escape(name)}</text>')
        out.append(f'<line x1="{x}" y1="47" x2="{x}" y2="{height - 10}" stroke="#8c959f" stroke-dasharray="4 4"/>')
    for row, (source, target, label) in enumerate(STEPS):
        y = TOP + ROW * (row + 1)
        text = escape(f"{row + 1}. {label}")
        if source == target:
            x = x_of(source)
            out.append(
                f'<rect x="{x + 8}" y="{y - 16}" width="{len(label) * 6.4 + 30:.0f}" height="22" rx="3" '
                'fill="#fff8c5" stroke="#d4a72c"/>'
            )
            out.append(f'<text x="{x + 16}" y="{y}">{text}</text>')
            continue
        x1, x2 = x_of(source), x_of(target)
        out.append(f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="#24292f" marker-end="url(#a)"/>')
        left = min(x1, x2) + 6
        out.append(f'<text x="{left}" y="{y - 6}">{text}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    Path(__file__).with_name("sequence.svg").write_text(draw())
