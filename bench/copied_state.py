"""Many connected calendars without syncing them all: a few template accounts sync through the real path, and the
synced state of every other account is copied from its template's rows, on PostgreSQL and SQLite alike.

The emulator is seeded with `distinct_accounts=n`, so account i of a platform has the very events (ids included) of
account i % n, its template. A copy gets its template's calendar row with its own identity (account, email, client,
credentials), its sync cursor re-pointed at its own emulator calendar, its own push channel (the emulator copies the
template's live channel or subscription onto the copy's calendar with a new id, `POST /_emulator/push/copy`) and
its template's events under new ids. So every later sync of a copy is real: its own cursor, its own channel, its own
calendar on the emulator. Copies hold no access token unless `fresh_tokens` asks the platform for one.

Used by bench/scale.py (100,000 calendars) and bench/push_latency.py (10,000).
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

# The bench's own bookkeeping table: which calendar was copied from which template.
COPIES_TABLE = "bench_copies"


@dataclass(frozen=True)
class CopyOf:
    """A seeded emulator account (seed, platform, index) whose calsync calendar is copied from the calendar of its
    template account (same seed and platform, index `template_index`), calsync's calendar `template_id`."""

    seed: int
    platform: str  # google | microsoft
    index: int
    template_index: int
    template_id: int


def identity(seed: int, platform: str, index: int) -> dict[str, str]:
    """What of an emulator account may appear in calsync's rows: its ids, email, primary calendar, user id."""
    from calsync_emulator.model import Platform
    from calsync_emulator.seeding import credentials

    cred = credentials(seed, Platform(platform), index)
    if platform == "google":
        extra = {"user": str(10**19 + index)}
    else:
        extra = {
            "primary": f"AAMkAGseed{seed}m{index}c0",
            "user": str(uuid.uuid5(uuid.NAMESPACE_URL, cred["account_id"])),
        }
    return {"account": cred["account_id"], "email": cred["email"], **extra}


def emulator_calendar(ident: dict[str, str]) -> str:
    """The emulator's id of an account's primary calendar (Google: the email; Graph: the seeded pattern)."""
    return ident.get("primary", ident["email"])


def seeded_calendar(account_id: str) -> str:
    """The emulator's primary calendar of a seeded account (`seed{s}-g{i}` / `seed{s}-m{i}`)."""
    match = re.fullmatch(r"seed(\d+)-([gm])(\d+)", account_id)
    assert match is not None, account_id
    return emulator_calendar(identity(int(match[1]), "google" if match[2] == "g" else "microsoft", int(match[3])))


def _recode_cursor(cursor: str | None, swap: dict[str, str]) -> str | None:
    """The sync cursor with the emulator tokens inside it (URL-safe base64 JSON) re-pointed at the copy's calendar."""
    if cursor is None:
        return None

    def token(match: re.Match[str]) -> str:
        raw = match.group(0)
        try:
            payload = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        except ValueError:
            return raw
        if not isinstance(payload, dict) or "c" not in payload:
            return raw
        payload["c"] = swap.get(payload["c"], payload["c"])
        return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")

    return re.sub(r"[A-Za-z0-9_-]{24,}", token, _swap_text(cursor, swap))


def _swap_text(text: str, swap: dict[str, str]) -> str:
    for old, new in swap.items():
        text = re.sub(re.escape(old) + r"(?![0-9])", new, text)
    return text


def _swap(value: Any, swap: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _swap_text(value, swap)
    if isinstance(value, dict | list):
        return json.loads(_swap_text(json.dumps(value), swap))
    return value


def _new_event_id_sql(is_sqlite: bool) -> str:
    """A fresh `evt_` id per copied row, written by the database (16 hex characters, as unique as new_id's)."""
    if is_sqlite:
        return "'evt_' || lower(hex(randomblob(8)))"
    return "'evt_' || substr(md5(random()::text || m.copy_id || e.id), 1, 16)"


async def copy_state(
    context: Any, emulator_url: str, copies: Sequence[CopyOf], batch: int = 2000
) -> tuple[list[int], int, float]:
    """Calendars, push channels and events of every copy, from their template's synced rows (the emulator copies the
    template's channel too). The copies' next periodic check is spread uniformly over the safety-net interval (a
    fleet in its rhythm), never later than their template's. Returns the copies' ids, the channels copied and the
    seconds it took."""
    from sqlalchemy import Table, insert, select, text

    from calsync.ids import new_id
    from calsync.store.models import Calendar, PushChannel
    from calsync_emulator.client import EmulatorControl
    from calsync_emulator.model import Platform
    from calsync_emulator.seeding import credentials

    started = time.monotonic()
    rng = random.Random(7)
    now = datetime.now(UTC)
    net = context.settings.push_safety_net_seconds
    table = cast(Table, Calendar.__table__)
    channels = cast(Table, PushChannel.__table__)
    template_ids = sorted({c.template_id for c in copies})
    async with context.db.read() as session:
        rows = {
            r["id"]: dict(r)
            for r in (await session.execute(select(table).where(table.c.id.in_(template_ids)))).mappings()
        }
        template_channels: dict[int, dict[str, Any]] = {
            r["calendar_id"]: dict(r)
            for r in (
                await session.execute(
                    select(channels).where(channels.c.calendar_id.in_(list(rows)), channels.c.status == "active")
                )
            ).mappings()
        }
    made_ids: list[int] = []
    opened = 0
    # row, template id, template's and copy's emulator calendar
    pending: list[tuple[dict[str, Any], int, str, str]] = []

    async def flush(control: EmulatorControl) -> None:
        nonlocal opened
        if not pending:
            return
        async with context.db.write() as session:
            result = await session.execute(insert(table).returning(table.c.id), [p[0] for p in pending])
            ids = [int(r[0]) for r in result]
            await session.execute(
                text(f"INSERT INTO {COPIES_TABLE} (template_id, copy_id) VALUES (:t, :c)"),
                [{"t": p[1], "c": c} for p, c in zip(pending, ids, strict=True)],
            )
        wanted = [(p, c) for p, c in zip(pending, ids, strict=True) if p[1] in template_channels]
        made = await control.push_copy(
            [{"calendar_id": p[2], "to_calendar_id": p[3], "id": str(uuid.uuid4())} for p, _ in wanted]
        )
        by_calendar = {m["calendar_id"]: m for m in made}
        channel_rows = []
        for p, copy_id in wanted:
            m = by_calendar.get(p[3])
            if m is None:
                continue
            source = template_channels[p[1]]
            channel_rows.append(
                {k: v for k, v in source.items() if k != "id"}
                | {
                    "calendar_id": copy_id,
                    "channel_id": m["id"],
                    "resource_id": m["resource_id"] or source["resource_id"],
                    "created_at": now,
                }
            )
        if channel_rows:
            async with context.db.write() as session:
                await session.execute(insert(channels), channel_rows)
        opened += len(channel_rows)
        made_ids.extend(ids)
        pending.clear()

    async with context.db.write() as session:
        await session.execute(text(f"CREATE TABLE IF NOT EXISTS {COPIES_TABLE} (template_id bigint, copy_id bigint)"))
    async with EmulatorControl(emulator_url, timeout=120) as control:
        for copy in copies:
            cred = credentials(copy.seed, Platform(copy.platform), copy.index)
            source = rows[copy.template_id]
            mine = identity(copy.seed, copy.platform, copy.index)
            theirs = identity(copy.seed, copy.platform, copy.template_index)
            swap = {theirs[k]: mine[k] for k in mine}
            row = {k: _swap(v, swap) for k, v in source.items() if k != "id"}
            due = now + timedelta(seconds=rng.uniform(0, net))
            if source["sync_due_at"] is not None:
                due = min(due, source["sync_due_at"])
            row |= {
                "object_id": new_id("cal_"),
                "sync_cursor": _recode_cursor(source["sync_cursor"], swap),
                "encrypted_credentials": context.secrets.encrypt_json(
                    {"client_secret": cred["client_secret"], "refresh_token": cred["refresh_token"]}
                ),
                "encrypted_access_token": None,
                "access_token_expires_at": None,
                "access_token_refreshed_at": None,
                "lease_owner": None,
                "lease_expires_at": None,
                "sync_due_at": due,
            }
            pending.append((row, copy.template_id, emulator_calendar(theirs), emulator_calendar(mine)))
            if len(pending) >= batch:
                await flush(control)
        await flush(control)
    await _copy_events(context, made_ids, batch)
    async with context.db.write() as session:
        await session.execute(text("ANALYZE"))
    return made_ids, opened, time.monotonic() - started


async def _copy_events(context: Any, copies: list[int], batch: int) -> None:
    """Every template's events onto its copies, new ids and change numbers, in one INSERT ... SELECT per batch of
    calendars; the projects' and the meetings scan's change numbers are moved past them (the copies join their
    templates' meetings, already evaluated)."""
    from sqlalchemy import bindparam, text

    from calsync.store import change_horizon
    from calsync.store.models import CalendarEvent

    columns = [
        c.name
        for c in CalendarEvent.__table__.columns
        if c.name not in ("id", "object_id", "calendar_id", "change_seq")
    ]
    cols = ", ".join(columns)
    picked = ", ".join(f"e.{c}" for c in columns)
    object_id = _new_event_id_sql(context.db.is_sqlite)
    async with context.db.read() as session:
        top = int((await session.execute(text("SELECT coalesce(max(change_seq), 0) FROM projects"))).scalar_one())
        if not context.db.is_sqlite:
            # PostgreSQL numbers every project's events from one sequence (calsync.store.change_horizon).
            numbered = text(f"SELECT last_value FROM {change_horizon.SEQUENCE}")
            top = max(top, int((await session.execute(numbered)).scalar_one()))
    statement = text(
        f"INSERT INTO calendar_events ({cols}, object_id, calendar_id, change_seq) "
        f"SELECT {picked}, {object_id}, m.copy_id, :base + row_number() OVER (ORDER BY m.copy_id, e.id) "
        f"FROM {COPIES_TABLE} m JOIN calendar_events e ON e.calendar_id = m.template_id WHERE m.copy_id IN :ids"
    ).bindparams(bindparam("ids", expanding=True))
    for first in range(0, len(copies), batch):
        chunk = copies[first : first + batch]
        async with context.db.write() as session:
            written = (await session.execute(statement, {"base": top, "ids": chunk})).rowcount
        top += max(0, written)
        print(f"  copied {min(first + batch, len(copies)):,}/{len(copies):,} calendars' events", flush=True)
    async with context.db.write() as session:
        if not context.db.is_sqlite:
            await change_horizon.numbers_reach(session, top)  # new changes are numbered above the copies
        await session.execute(text("UPDATE projects SET change_seq = :top WHERE change_seq < :top"), {"top": top})
        await session.execute(
            text("UPDATE meeting_scan_cursors SET change_seq = :top WHERE change_seq < :top"), {"top": top}
        )


async def fresh_tokens(context: Any, calendar_ids: Sequence[int], concurrency: int = 32) -> int:
    """Ask the platform (the emulator) for an access token of each calendar, through calsync's own providers, and
    cache it on the row as a sync would: the copies then start as calendars synced within the hour do. Returns how
    many were stored."""
    from sqlalchemy import select

    from calsync.providers.http import make_http_client
    from calsync.providers.registry import make_provider
    from calsync.store.models import Calendar
    from calsync.sync.tokens import store_grant, stored_credentials

    http = make_http_client(context.settings.provider_timeout_seconds, max_connections=concurrency)
    providers: dict[str, Any] = {}
    gate = asyncio.Semaphore(concurrency)
    stored = 0
    try:
        for first in range(0, len(calendar_ids), 1000):
            chunk = list(calendar_ids[first : first + 1000])
            async with context.db.read() as session:
                calendars = list((await session.execute(select(Calendar).where(Calendar.id.in_(chunk)))).scalars())

            async def grant(calendar: Calendar) -> tuple[int, Any]:
                provider = providers.get(calendar.platform)
                if provider is None:
                    provider = providers[calendar.platform] = make_provider(calendar.platform, context.settings, http)
                async with gate:
                    return calendar.id, await provider.refresh_access_token(
                        stored_credentials(context.secrets, calendar)
                    )

            grants = dict(await asyncio.gather(*(grant(c) for c in calendars)))
            async with context.db.write() as session:
                for calendar in (await session.execute(select(Calendar).where(Calendar.id.in_(chunk)))).scalars():
                    store_grant(context.secrets, calendar, grants[calendar.id], context.clock())
                    stored += 1
    finally:
        await http.aclose()
    return stored
