"""Meeting-URL extraction cost per event: realistic 8,000-character descriptions and hostile inputs.

    .venv/bin/python bench/meeting_urls.py [--rounds 500]

Prints the median and p99 microseconds per call for each case (one run; compare cases, not machines)."""

from __future__ import annotations

import argparse
import statistics
import time
from urllib.parse import quote

from calsync.providers.meeting_urls import find_meeting_url

ZOOM = "https://us02web.zoom.us/j/85012345678"
TEAMS = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40thread.v2/0?context=%7b%22Tid%22%3a%22t%22%7d"
PARAGRAPH = (
    "Hi team, agenda for this week's sync: roadmap review (see https://docs.example.com/roadmap?tab=q3), "
    "hiring update, and <b>open questions</b>. Notes: https://wiki.example.com/notes/2026-11-23. "
    "Dial-in +1 555 0100,,123456789# — Room 4B. "
)


def description(tail: str) -> str:
    body = (PARAGRAPH * (8000 // len(PARAGRAPH) + 1))[: 8000 - len(tail)]
    return body + tail


CASES = {
    "8000 chars, no link": description(""),
    "8000 chars, Zoom at the end": description(f" Join: {ZOOM}?pwd=abc"),
    "8000 chars, SafeLinks Teams at the end": description(
        " https://nam12.safelinks.protection.outlook.com/?url=" + quote(TEAMS, safe="") + "&amp;data=x"
    ),
    "hostile: 'https://' x 2000": "https://" * 2000,
    "hostile: 'zoom.us/' x 1500": "zoom.us/" * 1500,
    "hostile: '(' x 10000": "(" * 10_000,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=500)
    args = parser.parse_args()
    print(f"{'case':45} {'median µs':>10} {'p99 µs':>10}")
    for name, text in CASES.items():
        find_meeting_url(text)  # warm-up
        samples = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            find_meeting_url(text)
            samples.append((time.perf_counter() - started) * 1e6)
        samples.sort()
        p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
        print(f"{name:45} {statistics.median(samples):10.1f} {p99:10.1f}")


if __name__ == "__main__":
    main()
