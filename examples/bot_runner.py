"""A minimal bot runner for calsync (standard library only): launches a bot on `bot.dispatch` and stands it down
when calsync says so. See docs/bots.md.

    python3 examples/bot_runner.py --port 9100 --secret <signing secret> \\
        [--launch 'my-recorder --url {meeting_url} --join-at {join_at} --name {bot_name}']

Subscribe it with `POST /api/v1/webhooks {"url": "http://127.0.0.1:9100/bots", "triggers": ["bot.dispatch",
"bot.updated", "bot.state_change"]}`. Every request is verified (both signature schemes, as
examples/webhook_receiver.py does). Deliveries are at least once and may arrive in any order, so repeats are dropped
by `idempotency_key`, and anything older than what the runner already acted on for that bot (`data.bot.updated_at`,
strictly increasing per bot) is ignored.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from webhook_receiver import verify  # the sibling example's verifier (both schemes)

# A bot in one of these must not be (or stay) in its meeting.
STAND_DOWN_STATES = ("scheduled", "paused", "cancelled", "failed")


@dataclass
class Runner:
    """What runs where: one launched bot per calsync bot id."""

    launch_command: str | None = None
    running: dict[str, Any] = field(default_factory=dict)  # bot id -> subprocess (or True when only printed)
    latest: dict[str, str] = field(default_factory=dict)  # bot id -> the newest data.bot.updated_at acted on
    seen: set[str] = field(default_factory=set)  # idempotency keys already handled
    log: list[str] = field(default_factory=list)

    def handle(self, payload: dict[str, Any]) -> None:
        if payload["idempotency_key"] in self.seen:  # a repeat of a delivery already handled
            return
        self.seen.add(payload["idempotency_key"])
        bot, trigger = payload["data"]["bot"], payload["trigger"]
        if bot["updated_at"] < self.latest.get(bot["id"], ""):  # overtaken by a newer webhook about this bot
            self.say(f"{trigger} for {bot['id']} is stale: ignored")
            return
        self.latest[bot["id"]] = bot["updated_at"]
        if trigger == "bot.dispatch":
            self.launch(bot, payload["data"]["event"])
        elif trigger == "bot.updated" and bot["id"] in self.running:
            # A real runner tells its bot; here the new time and link are printed.
            self.say(f"{bot['id']} now joins {bot['meeting_url']} at {bot['join_at']}")
        elif trigger == "bot.state_change" and bot["state"] in STAND_DOWN_STATES:
            self.stand_down(bot, payload["data"]["state_reason"])

    def launch(self, bot: dict[str, Any], event: dict[str, Any] | None) -> None:
        if bot["id"] in self.running:
            return
        what = f"'{event['name']}'" if event else "a meeting"
        self.say(
            f"launch {bot['id']} ({bot['bot_name'] or 'bot'}) into {what} at {bot['join_at']}: {bot['meeting_url']}"
        )
        process: Any = True
        if self.launch_command:
            values = {k: shlex.quote(str(bot[k] or "")) for k in ("id", "meeting_url", "join_at", "bot_name")}
            process = subprocess.Popen(self.launch_command.format(**values), shell=True)  # noqa: S602 - the operator's own command
        self.running[bot["id"]] = process

    def stand_down(self, bot: dict[str, Any], reason: dict[str, Any]) -> None:
        process = self.running.pop(bot["id"], None)
        if process is None:
            return
        self.say(f"stand down {bot['id']}: {bot['state']} ({reason['code']})")
        if isinstance(process, subprocess.Popen):
            process.terminate()

    def say(self, line: str) -> None:
        self.log.append(line)
        print(line, flush=True)


def serve(port: int, secret: str, runner: Runner) -> HTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                payload = verify(secret, dict(self.headers), body)
            except (ValueError, KeyError) as exc:
                runner.say(f"rejected: {exc}")
                self.send_response(400)
                self.end_headers()
                return
            if payload["trigger"].startswith("bot."):
                runner.handle(payload)
            self.send_response(204)  # after acting on it: a failure above makes calsync deliver it again
            self.end_headers()

        def log_message(self, *_: object) -> None:
            return

    return HTTPServer(("127.0.0.1", port), Handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--secret", required=True, help="the signing secret from POST /api/v1/webhooks")
    parser.add_argument("--launch", default=None, help="command run per bot; {meeting_url} {join_at} {bot_name} {id}")
    args = parser.parse_args()
    serve(args.port, args.secret, Runner(args.launch)).serve_forever()


if __name__ == "__main__":
    main()
