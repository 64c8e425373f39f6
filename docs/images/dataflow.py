"""Draws docs/images/dataflow.svg, the picture of how data moves through calsync (docs/architecture.md).

python3 docs/images/dataflow.py        # rewrites dataflow.svg next to this file; standard library only
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 1100, 600
BOX_W, BOX_H = 160, 46
COLUMNS = (30, 250, 470, 690, 910)
ROWS = (40, 170, 300)
STORE_Y = 440  # the database: a bar under everything that writes to it

# name: (x, y, fill, label lines)
BOXES: dict[str, tuple[int, int, str, list[str]]] = {
    "platforms": (COLUMNS[0], ROWS[0], "#f4f4f4", ["Google / Microsoft", "CalDAV / ICS"]),
    "push": (COLUMNS[0], ROWS[1], "#e8f0fe", ["push receivers", "calsync/push"]),
    "providers": (COLUMNS[1], ROWS[0], "#e8f0fe", ["providers", "calsync/providers"]),
    "sync": (COLUMNS[1], ROWS[1], "#e8f0fe", ["sync engine", "calsync/sync, run by", "the worker loops"]),
    "hooks": (COLUMNS[2], ROWS[1], "#e8f0fe", ["hooks", "calsync/hooks.py"]),
    "dashboard": (COLUMNS[2], ROWS[2], "#fce8e6", ["dashboard", "calsync/dashboard"]),
    "webhooks": (COLUMNS[3], ROWS[0], "#e6f4ea", ["webhooks", "outbox, delivery"]),
    "bots": (COLUMNS[3], ROWS[1], "#e6f4ea", ["bots", "dispatch"]),
    "meetings": (COLUMNS[3], ROWS[2], "#e6f4ea", ["meetings", "rules, evaluation"]),
    "app": (COLUMNS[4], ROWS[0], "#f4f4f4", ["your application", "(client, receiver,", "bot runner)"]),
    "api": (COLUMNS[4], ROWS[1], "#fce8e6", ["HTTP API", "calsync/api"]),
}

# (from, to, label): data moves one way only. Arrows into "store" end on the database bar.
ARROWS: list[tuple[str, str, str]] = [
    ("platforms", "push", "notifications"),
    ("providers", "platforms", ""),
    ("sync", "providers", "one call per change"),
    ("sync", "hooks", "a page"),
    ("hooks", "webhooks", ""),
    ("hooks", "bots", "events"),
    ("hooks", "meetings", "meetings queued"),
    ("meetings", "bots", "rule bots"),
    ("bots", "webhooks", "bot.dispatch"),
    ("webhooks", "app", "signed"),
    ("app", "api", "REST"),
    ("push", "store", "calendar due now"),
    ("sync", "store", "pages, fenced"),
    ("meetings", "store", "same transaction"),
    ("dashboard", "store", ""),
    ("api", "store", ""),
]

LEGEND = [
    ("#fce8e6", "front ends"),
    ("#e6f4ea", "features: they subscribe to the core's hooks"),
    ("#e8f0fe", "the core: it imports no feature"),
    ("#fff4d6", "the database: the only queue (calsync/store, due_work.py)"),
]


def box_height(lines: list[str]) -> int:
    return BOX_H + 14 * max(0, len(lines) - 2)


def centre(name: str) -> tuple[float, float]:
    x, y, _, lines = BOXES[name]
    return x + BOX_W / 2, y + box_height(lines) / 2


def edge_point(name: str, toward: tuple[float, float]) -> tuple[float, float]:
    """Where the line from the box's centre toward a point leaves the box."""
    cx, cy = centre(name)
    half_height = box_height(BOXES[name][3]) / 2
    dx, dy = toward[0] - cx, toward[1] - cy
    if dx == 0 and dy == 0:
        return cx, cy
    scale = min(
        (BOX_W / 2) / abs(dx) if dx else float("inf"),
        half_height / abs(dy) if dy else float("inf"),
    )
    return cx + dx * scale, cy + dy * scale


def render() -> str:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
    ]
    parts.append(
        f'<rect x="{COLUMNS[0]}" y="{STORE_Y}" width="{COLUMNS[4] + BOX_W - COLUMNS[0]}" height="40" rx="6" '
        'fill="#fff4d6" stroke="#444"/>'
    )
    parts.append(
        f'<text x="{WIDTH / 2}" y="{STORE_Y + 25}" text-anchor="middle" font-weight="bold">database '
        "(SQLite or PostgreSQL): calendars, events, meetings, bots, the outbox</text>"
    )
    for source, target, label in ARROWS:
        if target == "store":
            x, y, _, lines = BOXES[source]
            start = (x + BOX_W / 2, y + box_height(lines))
            end = (start[0], float(STORE_Y))
        else:
            start = edge_point(source, centre(target))
            end = edge_point(target, centre(source))
        parts.append(
            f'<line x1="{start[0]:.1f}" y1="{start[1]:.1f}" x2="{end[0]:.1f}" y2="{end[1]:.1f}" '
            'stroke="#555" stroke-width="1.4" marker-end="url(#arrow)"/>'
        )
        if label:
            mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
            # Above a level arrow, centred; beside an upright or slanting one.
            level = abs(end[0] - start[0]) > 2 * abs(end[1] - start[1])
            x, anchor = (mx, "middle") if level else (mx + 4, "start")
            parts.append(
                f'<text x="{x:.1f}" y="{my - 5:.1f}" text-anchor="{anchor}" fill="#333" font-size="11">'
                f"{escape(label)}</text>"
            )
    for x, y, fill, lines in BOXES.values():
        parts.append(
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{box_height(lines)}" rx="6" fill="{fill}" stroke="#444"/>'
        )
        for index, line in enumerate(lines):
            weight = "bold" if index == 0 else "normal"
            parts.append(
                f'<text x="{x + BOX_W / 2}" y="{y + 19 + 14 * index}" text-anchor="middle" '
                f'font-weight="{weight}">{escape(line)}</text>'
            )
    for index, (fill, text) in enumerate(LEGEND):
        y = STORE_Y + 70 + 22 * (index % 2)
        x = COLUMNS[0] + 500 * (index // 2)
        parts.append(f'<rect x="{x}" y="{y}" width="14" height="14" fill="{fill}" stroke="#444"/>')
        parts.append(f'<text x="{x + 20}" y="{y + 12}">{escape(text)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    Path(__file__).with_name("dataflow.svg").write_text(render())
