"""schemathesis hooks of the fuzz suite (tests/api/test_fuzz_contract.py), loaded by `schemathesis run` through
SCHEMATHESIS_HOOKS.

The OpenAPI document states every input rule JSON Schema can state. What remains depends on state or on rules
no schema language has (docs/api.md, "Input rules"): uniqueness within a project, Attendee's limit on the
metadata object's JSON length, a key's length in bytes, a webhook URL's IDNA and address policy, the instant
range of a datetime.
Generated *valid* cases are kept to those rules here, so that the positive_data_acceptance check ("valid data
is accepted") holds the server to exactly its promise. Invalid (negative) cases are left alone: each of these
rules only ever makes the server refuse more.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import schemathesis
from pydantic_core import PydanticCustomError

from calsync.api.schemas import MAX_INDEXED_BYTES, MAX_METADATA_LENGTH
from calsync.connect.schemas import check_return_url
from calsync.outbound.ssrf import MAX_URL_LENGTH, validate_webhook_url
from calsync.web.datetimes import OutOfRange, parse_query_datetime

# The settings the suite's server runs with (the defaults: https only, no private addresses).
WEBHOOK_ALLOW_HTTP = False
WEBHOOK_ALLOW_PRIVATE = False
DATETIME_PARAMETERS = ("updated_at_gte", "updated_after", "start_time_gte", "start_time_lte", "end_time_gte")
DATETIME_PARAMETERS += ("end_time_lte",)


def _positive(case: Any) -> bool:
    return case.meta is not None and case.meta.generation.mode.is_positive


def _body(case: Any) -> dict[str, Any]:
    return case.body if isinstance(case.body, dict) else {}


# Bots: whether a schema-valid body is accepted depends on stored state and on rules between fields (an existing
# event of the project with a meeting URL that has not started, `meeting_url` or `join_at` only without
# `calendar_event_id`, a live bot to patch; docs/bots.md), which no schema states. Their valid cases are left to
# tests/bots; their invalid ones are fuzzed like every other operation's.
STATEFUL_BODIES = {("POST", "/api/v1/bots"), ("PATCH", "/api/v1/bots/{object_id}")}
# A series override needs an event that is an instance of a recurring series (tests/meetings).
STATEFUL_BODIES.add(("PUT", "/api/v1/calendar_events/{object_id}/series_bot_override"))
# Hosted connect: a session needs the project's connect settings (an OAuth app, its return URLs; tests/connect).
STATEFUL_BODIES.add(("POST", "/api/v1/connect_sessions"))
BOT_RULE_BODIES = {("POST", "/api/v1/bot_rules"), ("PATCH", "/api/v1/bot_rules/{object_id}")}
# A CalDAV, iCloud or ICS calendar is created (or given new credentials) only once its server has answered, and a
# PATCH takes the credential fields of the calendar's own platform: their valid cases are left to
# tests/providers/caldav (against Radicale and a local feed).
SERVER_PLATFORMS = ("caldav", "icloud", "ics")
SERVER_CREDENTIALS = ("password", "url")


def _needs_a_server(case: Any) -> bool:
    body = _body(case)
    if (case.method.upper(), case.path) == ("POST", "/api/v1/calendars"):
        return body.get("platform") in SERVER_PLATFORMS
    if (case.method.upper(), case.path) == ("PATCH", "/api/v1/calendars/{object_id}"):
        return any(name in body for name in SERVER_CREDENTIALS)
    return False


def _follows_rule_rules(case: Any) -> bool:
    """Bot rules: `calendar_ids` must name calendars of the project, and participants_gte <= participants_lte
    (with a PATCH, against the stored value of the other: only both or neither is known to hold)."""
    body = _body(case)
    if body.get("calendar_ids"):
        return False
    low, high = body.get("participants_gte"), body.get("participants_lte")
    if case.method.upper() == "PATCH" and (("participants_gte" in body) != ("participants_lte" in body)):
        return False
    # (JSON Schema's integers include 1459.0)
    return not (isinstance(low, int | float) and isinstance(high, int | float) and low > high)


def _return_url_ok(url: Any) -> bool:
    """Connect settings' return URLs: absolute https (http on localhost), no fragment (calsync.connect.schemas)."""
    try:
        check_return_url(url)
    except (PydanticCustomError, TypeError, AttributeError):
        return False
    return True


def _follows_rules(case: Any) -> bool:
    if not _positive(case):
        return True
    if (case.method.upper(), case.path) in STATEFUL_BODIES:
        return False
    if (case.method.upper(), case.path) in BOT_RULE_BODIES and not _follows_rule_rules(case):
        return False
    if _needs_a_server(case):
        return False
    body = _body(case)
    key = body.get("deduplication_key")
    if isinstance(key, str) and len(key.strip().encode()) > MAX_INDEXED_BYTES:
        return False
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and len(json.dumps(metadata)) > MAX_METADATA_LENGTH:
        return False
    return_urls = body.get("return_urls")
    if isinstance(return_urls, list) and not all(_return_url_ok(url) for url in return_urls):
        return False
    url = body.get("url")
    if isinstance(url, str) and validate_webhook_url(
        url.strip(), WEBHOOK_ALLOW_HTTP, allow_private=WEBHOOK_ALLOW_PRIVATE
    ):
        return False
    for name in DATETIME_PARAMETERS:
        value = (case.query or {}).get(name)
        if isinstance(value, str):
            try:
                parse_query_datetime(value)
            except OutOfRange:
                return False
    return True


# Marks the part of a key or URL this module added, so that a case sent again gets a new one instead of two.
_MARK = "~calsync-fuzz-"


def _new_keys(case: Any) -> None:
    """A valid creation with keys new in the project: a duplicate `deduplication_key` or webhook URL is refused
    with Attendee's 400, however valid it is on its own. Applied at each send (a case may be sent twice)."""
    body = _body(case)
    key = body.get("deduplication_key")
    if isinstance(key, str | int | float) and not isinstance(key, bool):
        base = str(key).strip().split(_MARK)[0][:900].encode()[: MAX_INDEXED_BYTES - 100].decode(errors="ignore")
        body["deduplication_key"] = f"{base}{_MARK}{uuid.uuid4().hex}"
    url = body.get("url")
    if isinstance(url, str):
        url = url.strip().split(_MARK)[0]
        url = url[: MAX_URL_LENGTH - 60]  # room for the mark; the host stays whole (at most 253 characters)
        body["url"] = f"{url}{'&' if '#' in url else '#'}{_MARK}{uuid.uuid4().hex}"


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    return _follows_rules(case)


@schemathesis.hook
def before_add_examples(context: Any, examples: list[Any]) -> None:
    # The examples phase materializes the schema's examples without `filter_case`.
    examples[:] = [case for case in examples if _follows_rules(case)]


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if _positive(case):
        _new_keys(case)
