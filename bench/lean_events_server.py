"""A lean reference server for `GET /api/v1/calendar_events` on PostgreSQL: what the route costs with nothing but
an asyncpg pool, one SQL statement per request and orjson. bench/events_api_limit.py runs it beside `calsync api`
and measures both under the same load.

It answers the requests that bench measures, the first page (default ordering `-updated_at`, 100 rows) of:
the project, one calendar (`calendar_id`), and a time window (`start_time_gte`, `start_time_lte`, `end_time_lte`),
with calsync's body: the same fields in the same order, the same `next` link (an absolute URL carrying the
cursor calsync would write) and `previous: null`. Anything else is a 400.

Where it is leaner than calsync, on purpose:
- one statement per request: the calendar is resolved, the calendars' object ids joined and the events' bots
  looked up inside it (calsync issues one query for each);
- the JSON columns are read as their stored text (`::text`, computed over the page's 101 rows only) and spliced
  into the body as is (PostgreSQL's text of a jsonb has a space after `:` and `,`, so the body is a few percent
  larger than calsync's compact one);
- the API key is authenticated like calsync (SHA-256 of the key, one indexed lookup of the digest, revoked keys
  refused), but the lookup is cached for KEY_CACHE_SECONDS, so a revocation takes effect within that time.

Events with bots are not rendered (the bench stores none): such a page is a 500, so a fixture change cannot make
the comparison silently unfair.

    .venv/bin/python bench/lean_events_server.py --dsn postgresql://postgres@127.0.0.1:5432/db --port 8001
    .venv/bin/python bench/lean_events_server.py --dsn … --port 8001 --processes 2   # as `calsync api` on PostgreSQL
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import hashlib
import os
import signal
import socket
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import asyncpg
import orjson
import uvicorn

PAGE_SIZE = 100
KEY_CACHE_SECONDS = 10.0
KEY_CACHE_ENTRIES = 10_000
SCHEMES = (b"token", b"bearer")

# The ordering's walk of `-updated_at` over calsync's filters, as calsync.store.queries.events states them on
# PostgreSQL: "ends by X" also bounds start_time (an event never ends before it starts).
PAGE_SQL = """
SELECT e.object_id, c.object_id AS calendar_object_id, e.platform_uuid, e.meeting_url, e.start_time, e.end_time,
       e.is_deleted, e.attendees::text AS attendees, e.ical_uid, e.name, e.raw::text AS raw,
       EXISTS (SELECT 1 FROM bots b WHERE b.event_id = e.id) AS has_bots,
       e.created_at, e.updated_at, e.is_all_day, e.time_zone, e.status, e.location, e.organizer::text AS organizer,
       e.recurring_event_id, e.html_link, e.meeting_platform, e.change_seq, e.meeting_object_id, e.id
FROM ({page}) AS e
JOIN calendars c ON c.id = e.calendar_id
ORDER BY e.updated_at DESC, e.id DESC
"""
WALK = "SELECT * FROM calendar_events WHERE {where} ORDER BY updated_at DESC, id DESC LIMIT {limit}"
# A calendar's page: the calendar resolved in the same statement and its own (calendar_id, updated_at, id) index
# walked per calendar, as calsync's literal id list does. (`calendar_id = ANY(ARRAY(SELECT …))` instead left the
# planner without the ids' selectivity: it walked the project's index, ~200 ms of PostgreSQL at a million.)
CALENDAR_WALK = (
    "SELECT w.* FROM calendars k CROSS JOIN LATERAL ("
    + WALK.replace("{where}", "calendar_id = k.id AND {where}")
    + ") AS w WHERE k.project_id = $1 AND k.deleted_at IS NULL AND k.object_id = ${n}"
    " ORDER BY w.updated_at DESC, w.id DESC LIMIT {limit}"
)
AUTH_SQL = """
SELECT p.id FROM api_keys k JOIN projects p ON p.id = k.project_id
WHERE k.key_hash = $1 AND k.revoked_at IS NULL
"""


class BadRequest(Exception):
    def __init__(self, status: int, detail: str, code: str) -> None:
        super().__init__(detail)
        self.status, self.body = status, orjson.dumps({"detail": detail, "code": code})


def iso(value: datetime | None) -> str | None:
    """calsync.api.formatting.iso: UTC with microseconds and `Z` (asyncpg returns timestamptz in UTC)."""
    return None if value is None else value.isoformat(timespec="microseconds")[:-6] + "Z"


def fragment(text: str | None) -> orjson.Fragment | None:
    return None if text is None else orjson.Fragment(text)


def query_datetime(name: str, text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(400, f"Invalid {name} format.", "invalid_datetime") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def page_statement(project_id: int, params: dict[str, str]) -> tuple[str, list[Any]]:
    unknown = set(params) - {"calendar_id", "start_time_gte", "start_time_lte", "end_time_lte"}
    if unknown:
        raise BadRequest(400, f"Not supported by the lean server: {', '.join(sorted(unknown))}", "unsupported")
    args: list[Any] = [project_id]
    terms = ["project_id = $1"]
    walk = WALK
    if "calendar_id" in params:
        args.append(params["calendar_id"])
        walk = CALENDAR_WALK.replace("${n}", f"${len(args)}")
    start_gte = params.get("start_time_gte")
    if start_gte:
        args.append(query_datetime("start_time_gte", start_gte))
        terms.append(f"start_time >= ${len(args)}")
    uppers = [query_datetime(name, params[name]) for name in ("start_time_lte", "end_time_lte") if params.get(name)]
    if uppers:
        args.append(min(uppers))
        terms.append(f"start_time <= ${len(args)}")
    if params.get("end_time_lte"):
        args.append(query_datetime("end_time_lte", params["end_time_lte"]))
        terms.append(f"end_time <= ${len(args)}")
    page = walk.format(where=" AND ".join(terms), limit=PAGE_SIZE + 1)
    return PAGE_SQL.format(page=page), args


def next_link(scope: dict[str, Any], host: str, params: list[tuple[str, str]], row: asyncpg.Record) -> str:
    """The URL of the next page, as calsync.web.pagination.page_url writes it (Starlette's `include_query_params`
    re-encodes the query with the cursor set)."""
    payload = {"o": "-updated_at", "v": row["updated_at"].isoformat(), "i": row["id"], "b": False}
    cursor = base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")
    query = urlencode([(key, value) for key, value in params if key != "cursor"] + [("cursor", cursor)])
    return f"{scope['scheme']}://{host}{scope['path']}?{query}"


def event_json(row: asyncpg.Record) -> dict[str, Any]:
    if row["has_bots"]:
        raise BadRequest(500, "The lean server does not render bots", "unsupported")
    return {
        "id": row["object_id"],
        "calendar_id": row["calendar_object_id"],
        "platform_uuid": row["platform_uuid"],
        "meeting_url": row["meeting_url"],
        "start_time": iso(row["start_time"]),
        "end_time": iso(row["end_time"]),
        "is_deleted": row["is_deleted"],
        "attendees": fragment(row["attendees"]),
        "ical_uid": row["ical_uid"],
        "name": row["name"],
        "raw": fragment(row["raw"]),
        "bots": [],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "is_all_day": row["is_all_day"],
        "time_zone": row["time_zone"],
        "status": row["status"],
        "location": row["location"],
        "organizer": fragment(row["organizer"]),
        "recurring_event_id": row["recurring_event_id"],
        "html_link": row["html_link"],
        "meeting_platform": row["meeting_platform"],
        "change_seq": row["change_seq"],
        "meeting_id": row["meeting_object_id"],
    }


class LeanEventsServer:
    """The ASGI application: lifespan opens and closes the pool, every HTTP request is one page."""

    def __init__(self, dsn: str, pool_size: int) -> None:
        self.dsn, self.pool_size = dsn, pool_size
        self.pool: asyncpg.Pool | None = None
        self.keys: dict[bytes, tuple[float, int | None]] = {}  # key digest -> (expires at, project id or None)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        status, body = 200, b""
        try:
            body = await self.respond(scope)
        except BadRequest as exc:
            status, body = exc.status, exc.body
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.pool = await asyncpg.create_pool(self.dsn, min_size=self.pool_size, max_size=self.pool_size)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.pool is not None:
                    await self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def respond(self, scope: dict[str, Any]) -> bytes:
        if scope["path"] == "/health":
            return b'{"status":"ok"}'
        if scope["path"] != "/api/v1/calendar_events" or scope["method"] != "GET":
            raise BadRequest(404, "Not found", "not_found")
        headers = dict(scope["headers"])
        project_id = await self.authenticate(headers.get(b"authorization"))
        params = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        statement, args = page_statement(project_id, dict(params))
        assert self.pool is not None
        rows = await self.pool.fetch(statement, *args)
        next_url = None
        if len(rows) > PAGE_SIZE:
            rows = rows[:PAGE_SIZE]
            host = headers.get(b"host", b"").decode("latin-1")
            next_url = next_link(scope, host, params, rows[-1])
        return orjson.dumps({"next": next_url, "previous": None, "results": [event_json(row) for row in rows]})

    async def authenticate(self, header: bytes | None) -> int:
        parts = (header or b"").split()
        if len(parts) != 2 or parts[0].lower() not in SCHEMES:
            raise BadRequest(401, "Invalid Authorization header", "invalid_authorization")
        digest = hashlib.sha256(parts[1]).hexdigest().encode()
        now = time.monotonic()
        cached = self.keys.get(digest)
        if cached is None or cached[0] <= now:
            assert self.pool is not None
            project_id = await self.pool.fetchval(AUTH_SQL, digest.decode())
            # Refusals are cached too, so a flood of bad keys costs no more queries than good ones.
            cached = (now + KEY_CACHE_SECONDS, project_id)
            if len(self.keys) >= KEY_CACHE_ENTRIES:
                self.keys.clear()
            self.keys[digest] = cached
        if cached[1] is None:
            raise BadRequest(401, "Invalid or disabled API key", "invalid_api_key")
        return cached[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", required=True, help="postgresql://… (asyncpg's form)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pool-size", type=int, default=10, help="calsync's default: 5 kept + 5 overflow")
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="uvloop: the lean choice; asyncio: the standard library's loop, which `calsync api` runs on",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="server processes on one listening socket, as `calsync api --processes N` (the pool split between them)",
    )
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    children = []
    index = 0
    while index < args.processes - 1:
        pid = os.fork()
        if pid == 0:
            # uvicorn re-raises SIGTERM once it has shut down, so the parent may not live to stop its children:
            # each one is stopped by the kernel when the parent goes.
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
            children = []
            break
        children.append(pid)
        index += 1
    share = args.pool_size // args.processes + (1 if index < args.pool_size % args.processes else 0)
    # uvicorn and httptools as `calsync api`, without access logs (calsync's default).
    config = uvicorn.Config(
        LeanEventsServer(args.dsn, max(1, share)),
        loop=args.loop,
        http="httptools",
        log_level="warning",
        access_log=False,
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        for child in children:
            os.kill(child, signal.SIGTERM)
        if index < args.processes - 1:
            os._exit(0)  # a forked server: no exit handlers of the parent's


if __name__ == "__main__":
    main()
