"""Run one benchmark on two checkouts of calsync alternately, in one invocation, and print both side by side.

Each checkout runs with its own `.venv` (make install there first), so each measures its own code; runs
alternate (old, new, old, new, ...) so that a change in the machine's load hits both alike. Every numeric value
of the benchmark's `--json` output is collected per run, and the table shows the median of each over the rounds.

    git worktree add /tmp/calsync-old 888c539 && make -C /tmp/calsync-old install
    .venv/bin/python bench/compare_revisions.py --old /tmp/calsync-old --rounds 3 -- \\
        initial_sync.py --db both --repeat 1
    .venv/bin/python bench/compare_revisions.py --old /tmp/calsync-old -- events_api.py --quick
    .venv/bin/python bench/compare_revisions.py --old /tmp/calsync-old --match p99 -- bot_dispatch.py --quick
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent


def numeric_leaves(value: Any, path: str = "") -> Iterator[tuple[str, float]]:
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield path, float(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from numeric_leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            label = item.get("name") or item.get("case") or item.get("db") if isinstance(item, dict) else None
            yield from numeric_leaves(item, f"{path}[{label if label is not None else index}]")


def run_once(checkout: Path, script_args: list[str], label: str) -> dict[str, float]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    command = [str(checkout / ".venv/bin/python"), str(checkout / "bench" / script_args[0]), *script_args[1:]]
    print(f"--- {label}: {' '.join(command)} --json {out}", flush=True)
    started = time.monotonic()
    subprocess.run([*command, "--json", str(out)], cwd=checkout, check=True)
    print(f"--- {label}: {time.monotonic() - started:.0f} s", flush=True)
    results = json.loads(out.read_text()).get("results", {})
    out.unlink()
    return dict(numeric_leaves(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", type=Path, required=True, help="checkout of the old revision, with its .venv")
    parser.add_argument("--new", type=Path, default=HERE, help="checkout of the new revision (default: this one)")
    parser.add_argument("--rounds", type=int, default=1, help="old/new pairs, alternating")
    parser.add_argument("--match", default="", help="show only values whose path contains this text")
    parser.add_argument("--json", default=None, help="write every run's values here")
    parser.add_argument("script", nargs=argparse.REMAINDER, help="-- the bench script and its arguments")
    args = parser.parse_args()
    script = [part for part in args.script if part != "--"]
    if not script:
        parser.error("give the benchmark after --, e.g. -- initial_sync.py --quick")
    runs: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
    for round_index in range(args.rounds):
        for label, checkout in (("old", args.old), ("new", args.new)):
            runs[label].append(run_once(checkout.resolve(), script, f"{label} round {round_index + 1}"))
    paths = [path for path in runs["new"][0] if args.match in path and all(path in run for run in runs["old"])]
    width = max((len(path) for path in paths), default=10)
    print(f"\n{'value':<{width}}  {'old (median)':>14}  {'new (median)':>14}  {'new/old':>8}")
    for path in paths:
        old = statistics.median(run[path] for run in runs["old"])
        new = statistics.median(run[path] for run in runs["new"])
        ratio = f"{new / old:8.2f}" if old else "       -"
        print(f"{path:<{width}}  {old:14.4g}  {new:14.4g}  {ratio}")
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=2) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
