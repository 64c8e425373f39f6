"""Hostile input: every request a black-box campaign answered with 500 now gets a 4xx that names the
field, on SQLite and PostgreSQL, and nothing stored changes. The classes, not only the instances: datetimes at
the calendar's limits after their offset, integers beyond 64 bits, strings no database can take (NUL, lone
surrogates) in every kind of parameter and body field, and webhook URLs that are not URLs."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from calsync.context import AppContext
from calsync.sync.channels import GOOGLE_PATH, MICROSOFT_LIFECYCLE_PATH, MICROSOFT_PATH
from tests.api.seed import SEED_REQUEST
from tests.support.factories import insert_events
from tests.support.service import Tenant

JSON = {"Content-Type": "application/json"}
DATETIME_FILTERS = ["updated_at_gte", "updated_after", "start_time_gte", "start_time_lte", "end_time_gte"]
DATETIME_FILTERS += ["end_time_lte"]
ORDERINGS = ["-updated_at", "updated_at", "start_time", "-start_time", "end_time", "-end_time", "created_at"]
ORDERINGS += ["-created_at"]
NUL, SURROGATE = "\x00", "\ud800"
NUL_MESSAGE = "Null characters are not allowed."
SURROGATE_MESSAGE = "Unpaired surrogate characters are not allowed."


def raw_json(value: Any) -> bytes:
    """JSON with lone surrogates escaped as `\\ud800`, as a hostile client sends them."""
    return json.dumps(value).encode()


def cursor(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


async def post_json(client: httpx.AsyncClient, path: str, value: Any, method: str = "POST") -> httpx.Response:
    return await client.request(method, path, content=raw_json(value), headers=JSON)


async def create_calendar(tenant: Tenant, **extra: Any) -> dict[str, Any]:
    response = await tenant.client.post("/api/v1/calendars", json={**SEED_REQUEST, **extra})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def create_webhook(tenant: Tenant, url: str = "https://hooks.example.com/calsync") -> dict[str, Any]:
    response = await tenant.client.post("/api/v1/webhooks", json={"url": url, "triggers": ["calendar.state_change"]})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


# --- datetimes at the limits ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DATETIME_FILTERS)
@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+14:00",  # 13 hours before year 1 in UTC
        "0001-01-01T00:00:00+00:01",
        "0001-01-01 13:59:59.999999+1400",
        "9999-12-31T23:59:59-14:00",
        "9999-12-31T23:59:59.999999-00:01",
    ],
)
async def test_datetimes_beyond_the_representable_range_are_400(tenant: Tenant, name: str, value: str) -> None:
    response = await tenant.client.get("/api/v1/calendar_events", params={name: value})
    assert response.status_code == 400, response.text
    body = response.json()
    shown = "updated_at_gte" if name == "updated_after" else name  # Attendee names the new parameter
    assert body["code"] == "invalid_datetime" and body["field"] == shown
    assert body["error"].startswith(f"Invalid {shown}: out of range")


async def test_datetimes_at_the_representable_limits_work_in_every_plan(tenant: Tenant, context: AppContext) -> None:
    """The limits themselves are accepted, as filters of every kind and ordering (the split plans subtract class
    limits from the bound: at year 1 that must not overflow), for the project and for one calendar."""
    calendar = await create_calendar(tenant)
    await insert_events(context, calendar["id"], 5, start=datetime(2026, 3, 1, tzinfo=UTC), step=timedelta(days=40))
    lowest = ["0001-01-01T00:00:00Z", "0001-01-01T14:00:00+14:00"]
    highest = ["9999-12-31T23:59:59.999999Z", "9999-12-31T09:59:59.999999-14:00"]
    for ordering in ORDERINGS:
        for scope in ({}, {"calendar_id": calendar["id"]}):
            for low, high in zip(lowest, highest, strict=True):
                everything = {"updated_at_gte": low, "start_time_gte": low, "end_time_gte": low}
                everything |= {"start_time_lte": high, "end_time_lte": high}
                for params in (everything, {"end_time_gte": low}, {"start_time_lte": high}, {"updated_at_gte": low}):
                    response = await tenant.client.get(
                        "/api/v1/calendar_events", params={**params, **scope, "ordering": ordering}
                    )
                    assert response.status_code == 200, (params, ordering, response.text)
                    assert len(response.json()["results"]) == 5
                nothing = {"start_time_gte": high, "end_time_lte": low, "updated_at_gte": high}
                for name, value in nothing.items():
                    response = await tenant.client.get(
                        "/api/v1/calendar_events", params={name: value, **scope, "ordering": ordering}
                    )
                    assert response.status_code == 200 and response.json()["results"] == [], (name, ordering)


async def test_empty_datetime_filters_follow_the_anchor(tenant: Tenant) -> None:
    """Empty `updated_at_gte` / `updated_after` mean absent (one falls back to the other); an empty start or end
    filter is a 400, as Attendee answers and as the OpenAPI patterns say."""
    for params in ({"updated_at_gte": ""}, {"updated_after": ""}, {"updated_at_gte": "", "updated_after": ""}):
        assert (await tenant.client.get("/api/v1/calendar_events", params=params)).status_code == 200
    for name in ("start_time_gte", "start_time_lte", "end_time_gte", "end_time_lte"):
        response = await tenant.client.get("/api/v1/calendar_events", params={name: ""})
        assert response.status_code == 400 and response.json()["field"] == name


# --- integers beyond 64 bits and other impossible cursors -------------------------------------------------------

GOOD_CURSOR = {"o": "-updated_at", "v": "2026-01-01T00:00:00+00:00", "i": 1, "b": False}
BAD_CURSORS = [
    {**GOOD_CURSOR, "i": 10**30},
    {**GOOD_CURSOR, "i": 2**63},
    {**GOOD_CURSOR, "i": -(2**63) - 1},
    {**GOOD_CURSOR, "i": 1.5},
    {**GOOD_CURSOR, "i": True},
    {**GOOD_CURSOR, "i": "1"},
    {**GOOD_CURSOR, "v": "9999-12-31T23:59:59-14:00"},
    {**GOOD_CURSOR, "v": "0001-01-01T00:00:00+14:00"},
    {**GOOD_CURSOR, "v": "2026-01-01T00:00:00"},
    {**GOOD_CURSOR, "v": 5},
    {**GOOD_CURSOR, "b": "yes"},
    {**GOOD_CURSOR, "o": ["-updated_at"]},
    [GOOD_CURSOR],
    "text",
]


@pytest.mark.parametrize("payload", BAD_CURSORS, ids=lambda p: json.dumps(p)[:60])
async def test_impossible_cursors_are_the_anchors_404(tenant: Tenant, payload: Any) -> None:
    webhook = await create_webhook(tenant)
    paths = {
        "/api/v1/calendar_events": "-updated_at",
        "/api/v1/calendars": "-created_at",
        "/api/v1/webhooks": "-created_at",
        f"/api/v1/webhooks/{webhook['id']}/deliveries": "-created_at",
    }
    for path, ordering in paths.items():
        value = (
            {**payload, "o": ordering} if isinstance(payload, dict) and payload.get("o") == "-updated_at" else payload
        )
        response = await tenant.client.get(path, params={"cursor": cursor(value)})
        assert response.status_code == 404, (path, response.text)
        assert response.json() == {"detail": "Invalid cursor", "code": "invalid_cursor"}
    for raw in (NUL, "=" * 5, "e30" * 2000, "Infinity", "\ufffd"):
        response = await tenant.client.get("/api/v1/calendars", params={"cursor": raw})
        assert response.status_code in (400, 404), response.text


async def test_largest_64_bit_cursor_ids_still_page(tenant: Tenant) -> None:
    for row_id in (2**63 - 1, -(2**63)):
        value = cursor({**GOOD_CURSOR, "i": row_id})
        assert (await tenant.client.get("/api/v1/calendar_events", params={"cursor": value})).status_code == 200


# --- strings no database can store ------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["client_id", "client_secret", "refresh_token", "deduplication_key", "platform_uuid"])
@pytest.mark.parametrize(("bad", "message"), [(NUL, NUL_MESSAGE), (SURROGATE, SURROGATE_MESSAGE)])
async def test_unstorable_strings_in_calendar_bodies(tenant: Tenant, field: str, bad: str, message: str) -> None:
    for value in (bad, f"ok{bad}ok"):
        response = await post_json(tenant.client, "/api/v1/calendars", {**SEED_REQUEST, field: value})
        assert response.status_code == 400, response.text
        assert response.json() == {field: [message]}
    calendar = await create_calendar(tenant, deduplication_key="kept")
    if field in ("client_secret", "refresh_token"):
        patched = await post_json(tenant.client, f"/api/v1/calendars/{calendar['id']}", {field: bad}, "PATCH")
        assert patched.status_code == 400 and patched.json() == {field: [message]}
    listed = (await tenant.client.get("/api/v1/calendars")).json()["results"]
    assert [c["id"] for c in listed] == [calendar["id"]] and listed[0]["updated_at"] == calendar["updated_at"]


async def test_keys_are_bounded_in_bytes_as_the_index_needs(tenant: Tenant) -> None:
    """1024 characters of 4-byte UTF-8 that do not compress overflowed PostgreSQL's B-tree entry limit on the
    unique (project, deduplication_key) index: a 500. Now at most 2048 bytes, on both databases."""
    rnd = random.Random(14)
    wide = "".join(chr(rnd.randrange(0x20000, 0x2A6DF)) for _ in range(1024))  # CJK extension B: 4 bytes each
    too_long = await tenant.client.post("/api/v1/calendars", json={**SEED_REQUEST, "deduplication_key": wide})
    assert too_long.status_code == 400
    assert too_long.json() == {"deduplication_key": ["Ensure this field has no more than 2048 bytes in UTF-8."]}
    assert (await tenant.client.get("/api/v1/calendars")).json()["results"] == []
    longest = await create_calendar(tenant, deduplication_key=wide[:512])
    assert longest["deduplication_key"] == wide[:512]
    again = await tenant.client.post("/api/v1/calendars", json={**SEED_REQUEST, "deduplication_key": wide[:512]})
    assert again.status_code == 400 and "already exists" in again.json()["deduplication_key"][0]


@pytest.mark.parametrize(
    "metadata",
    [{"k": NUL}, {NUL: "v"}, {"k": f"a{NUL}b"}, {"k": SURROGATE}, {SURROGATE: "v"}, {"k": "\udfff\ud800"}],
    ids=["nul-value", "nul-key", "nul-inside", "surrogate-value", "surrogate-key", "reversed-pair"],
)
async def test_unstorable_metadata(tenant: Tenant, metadata: dict[str, str]) -> None:
    response = await post_json(tenant.client, "/api/v1/calendars", {**SEED_REQUEST, "metadata": metadata})
    assert response.status_code == 400, response.text
    assert list(response.json()) == ["metadata"]
    calendar = await create_calendar(tenant)
    patched = await post_json(tenant.client, f"/api/v1/calendars/{calendar['id']}", {"metadata": metadata}, "PATCH")
    assert patched.status_code == 400 and list(patched.json()) == ["metadata"]
    stored = (await tenant.client.get(f"/api/v1/calendars/{calendar['id']}")).json()
    assert stored["metadata"] == SEED_REQUEST["metadata"] and stored["updated_at"] == calendar["updated_at"]


async def test_echoed_input_stays_encodable(tenant: Tenant) -> None:
    """Errors that quote the client's input (a choice, an unknown field) quote a lone surrogate as its escape."""
    bad_choice = await post_json(tenant.client, "/api/v1/calendars", {**SEED_REQUEST, "platform": SURROGATE})
    assert bad_choice.status_code == 400 and bad_choice.json() == {"platform": ['"\\ud800" is not a valid choice.']}
    unknown = await post_json(tenant.client, "/api/v1/calendars", {**SEED_REQUEST, f"x{SURROGATE}": 1})
    assert unknown.status_code == 400 and unknown.json() == {"non_field_errors": [SURROGATE_MESSAGE]}
    trigger = await post_json(tenant.client, "/api/v1/webhooks", {"url": "https://a.example/", "triggers": [SURROGATE]})
    assert trigger.status_code == 400 and trigger.json() == {"triggers": ['"\\ud800" is not a valid choice.']}
    assert (await tenant.client.get("/api/v1/calendars")).json()["results"] == []


@pytest.mark.parametrize(("bad", "message"), [(NUL, NUL_MESSAGE), (SURROGATE, SURROGATE_MESSAGE)])
async def test_unstorable_strings_in_webhook_bodies(tenant: Tenant, bad: str, message: str) -> None:
    body = {"url": f"https://hooks.example.com/{bad}", "triggers": ["calendar.state_change"]}
    response = await post_json(tenant.client, "/api/v1/webhooks", body)
    assert response.status_code == 400 and response.json() == {"url": [message]}
    webhook = await create_webhook(tenant)
    patched = await post_json(tenant.client, f"/api/v1/webhooks/{webhook['id']}", {"url": body["url"]}, "PATCH")
    assert patched.status_code == 400 and patched.json() == {"url": [message]}
    listed = (await tenant.client.get("/api/v1/webhooks")).json()["results"]
    assert [(w["id"], w["url"]) for w in listed] == [(webhook["id"], webhook["url"])]


async def test_nul_in_every_id_and_filter(tenant: Tenant) -> None:
    """PostgreSQL refused these with "invalid byte sequence" (500); now a 400 naming the parameter."""
    calendar = await create_calendar(tenant)
    webhook = await create_webhook(tenant)
    by_id = [
        ("GET", "/api/v1/calendars/{}"),
        ("PATCH", "/api/v1/calendars/{}"),
        ("DELETE", "/api/v1/calendars/{}"),
        ("POST", "/api/v1/calendars/{}/sync"),
        ("GET", "/api/v1/calendars/{}/platform_calendars"),
        ("GET", "/api/v1/calendar_events/{}"),
        ("GET", "/api/v1/webhooks/{}"),
        ("PATCH", "/api/v1/webhooks/{}"),
        ("DELETE", "/api/v1/webhooks/{}"),
        ("GET", "/api/v1/webhooks/{}/deliveries"),
        ("GET", "/api/v1/webhook_deliveries/{}"),
        ("POST", "/api/v1/webhook_deliveries/{}/retry"),
    ]
    for method, template in by_id:
        for value in ("%00", "cal_%00x"):
            response = await tenant.client.request(method, template.format(value), json={})
            assert response.status_code == 400, (method, template, response.text)
            assert response.json() == {
                "error": f"Invalid object_id: {NUL_MESSAGE}",
                "code": "null_characters_not_allowed",
                "field": "object_id",
            }
    secret = await tenant.client.delete("/api/v1/webhook_secret/%00")
    assert secret.status_code == 400 and secret.json()["field"] == "secret_id"
    filters = [
        ("/api/v1/calendar_events", "calendar_id"),
        ("/api/v1/calendar_events", "event_id"),
        ("/api/v1/calendar_events", "calendar_deduplication_key"),
        ("/api/v1/calendars", "deduplication_key"),
        (f"/api/v1/webhooks/{webhook['id']}/deliveries", "calendar_id"),
    ]
    for path, name in filters:
        response = await tenant.client.get(path, params={name: f"x{NUL}"})
        assert response.status_code == 400 and response.json()["field"] == name, (path, name, response.text)
    # Bytes that do not decode are replaced (U+FFFD) by the server's URL decoding: an unknown id, not an error.
    assert (await tenant.client.get("/api/v1/calendars/%ED%A0%80")).status_code == 404
    replaced = await tenant.client.get("/api/v1/calendar_events", params={"calendar_id": "\ufffd"})
    assert replaced.status_code == 200 and replaced.json()["results"] == []
    assert (await tenant.client.get(f"/api/v1/calendars/{calendar['id']}")).status_code == 200


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b'{"client_id": "\xff"}', "JSON parse error - "),  # not UTF-8
        (b'{"client_id": "' + b"\xed\xa0\x80" + b'"}', None),  # a surrogate encoded in UTF-8 bytes (CESU)
        (b"[" * 100_000 + b"]" * 100_000, "JSON parse error - "),  # deeper than any parser's stack
        (b'{"client_id": ' + b"9" * 5000 + b"}", "JSON parse error - "),  # beyond Python's int-from-text limit
    ],
    ids=["invalid-utf8", "cesu-surrogate", "deep-nesting", "huge-integer"],
)
async def test_undecodable_bodies(tenant: Tenant, content: bytes, detail: str | None) -> None:
    response = await tenant.client.post("/api/v1/calendars", content=content, headers=JSON)
    assert response.status_code == 400, response.text
    if detail is not None:
        assert response.json()["detail"].startswith(detail) and response.json()["code"] == "invalid_json"
    assert (await tenant.client.get("/api/v1/calendars")).json()["results"] == []


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400", '"72"', "true", "10" + "0" * 400])
async def test_rotation_overlap_is_a_bounded_json_number(tenant: Tenant, value: str) -> None:
    content = b'{"previous_expires_in_hours": ' + value.encode() + b"}"
    response = await tenant.client.post("/api/v1/webhook_secret/rotate", content=content, headers=JSON)
    assert response.status_code == 400, response.text


async def test_push_receivers_skip_unstorable_ids(tenant: Tenant, api_url: str) -> None:
    """The platform push endpoints take JSON from anyone: an id or client state with NUL or a lone surrogate
    names no channel of ours (and never reaches PostgreSQL)."""
    items = [
        {"subscriptionId": NUL, "clientState": "x"},
        {"subscriptionId": "s", "clientState": SURROGATE},
        {"subscriptionId": SURROGATE, "lifecycleEvent": "missed"},
        {"subscriptionId": f"a{NUL}", "lifecycleEvent": "reauthorizationRequired", "clientState": NUL},
    ]
    async with httpx.AsyncClient(base_url=api_url) as client:
        for path in (MICROSOFT_PATH, MICROSOFT_LIFECYCLE_PATH):
            response = await post_json(client, path, {"value": items})
            assert response.status_code == 202, (path, response.text)
        echoed = await client.post(MICROSOFT_PATH, params={"validationToken": NUL})
        assert echoed.status_code == 400 and echoed.json()["code"] == "null_characters_not_allowed"
        # Header values arrive as Latin-1 text (HTTP servers refuse NUL in them): any byte is an unknown channel.
        headers = {"X-Goog-Channel-ID": b"\xff\xfe\x80id", "X-Goog-Channel-Token": b"\xed\xa0\x80"}
        google = await client.post(GOOGLE_PATH, headers=headers)
        assert google.status_code == 401, google.text


# --- webhook URLs -----------------------------------------------------------------------------------------------

INVALID_URLS = [
    ("https://%00/", "not a valid domain name"),
    ("https://xn--/", "not a valid domain name"),
    ("https://xn--ls8h.la/", "internationalized"),
    ("https://127.0.0.1%09:8000/h", "not a valid domain name"),
    ("https://127.1/", "IPv4"),
    ("https://0x7f.0.0.1/", "IPv4"),
    ("https://2130706433/", "IPv4"),
    ("https://01.2.3.4/", "IPv4"),
    ("https://a_b.example/", "not a valid domain name"),
    ("https://-a.example/", "not a valid domain name"),
    ("https://a..example/", "not a valid domain name"),
    ("https://" + "a" * 64 + ".example/", "not a valid domain name"),
    ("https://" + ".".join(["a" * 60] * 5) + "/", "at most 253"),
    ("https://hooks.example.com\\@evil.example/", "credentials"),
    ("https://[1.2.3.4]/", "not valid"),
    ("https://[::1/", "not valid"),
    ("https://hooks.example.com:+80/", "not valid"),
]


@pytest.mark.parametrize(("url", "reason"), INVALID_URLS)
async def test_malformed_webhook_urls_are_refused_at_creation(tenant: Tenant, url: str, reason: str) -> None:
    body = {"url": url, "triggers": ["calendar.state_change"]}
    response = await tenant.client.post("/api/v1/webhooks", json=body)
    assert response.status_code == 400, response.text
    [message] = response.json()["url"]
    assert reason in message
    webhook = await create_webhook(tenant)
    patched = await tenant.client.patch(f"/api/v1/webhooks/{webhook['id']}", json={"url": url})
    assert patched.status_code == 400 and patched.json()["url"] == [message]


@pytest.mark.parametrize(
    "url", ["https://bücher.example/x", "https://xn--bcher-kva.example/", "https://hooks.example.com.:8443/?a=b#c"]
)
async def test_well_formed_webhook_urls_are_accepted(tenant: Tenant, url: str) -> None:
    assert (await create_webhook(tenant, url))["url"] == url


# --- headers and methods ----------------------------------------------------------------------------------------


async def test_authorization_scheme_is_case_insensitive_and_spaces_may_repeat(tenant: Tenant, api_url: str) -> None:
    """Decided (docs/api.md): as DRF and RFC 9110 (`1*SP`), the scheme is case-insensitive and any run of spaces
    separates it from the key; anything but exactly two parts is Attendee's 401."""
    async with httpx.AsyncClient(base_url=api_url) as client:
        for header in (f"Token  {tenant.api_key}", f"token {tenant.api_key}", f"TOKEN\t{tenant.api_key}"):
            response = await client.get("/api/v1/calendars", headers={"Authorization": header})
            assert response.status_code == 200, header
        for header in (f"Token {tenant.api_key} x", f"Token{tenant.api_key}", f"Basic {tenant.api_key}"):
            response = await client.get("/api/v1/calendars", headers={"Authorization": header})
            assert response.status_code == 401 and response.json()["code"] == "invalid_authorization"


async def test_bodies_must_be_sent_as_json(tenant: Tenant) -> None:
    body = json.dumps(SEED_REQUEST).encode()
    without = await tenant.client.post("/api/v1/calendars", content=body)
    assert without.status_code == 415 and without.json()["code"] == "unsupported_media_type"
    as_text = await tenant.client.post("/api/v1/calendars", content=body, headers={"Content-Type": "text/plain"})
    assert as_text.status_code == 415
    for media_type in ("application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"):
        response = await tenant.client.post("/api/v1/calendars", content=body, headers={"Content-Type": media_type})
        assert response.status_code == 201, media_type
        await tenant.client.delete(f"/api/v1/calendars/{response.json()['id']}")
    # An optional body may be left out, with or without a Content-Type; sent, it must be JSON.
    assert (await tenant.client.post("/api/v1/webhook_secret/rotate")).status_code == 201
    rotate_text = await tenant.client.post(
        "/api/v1/webhook_secret/rotate", content=b'{"previous_expires_in_hours": 1}', headers={}
    )
    assert rotate_text.status_code == 415
    plain = await tenant.client.post("/api/v1/webhook_secret/rotate", headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415


async def test_405_lists_every_method_of_the_path(tenant: Tenant) -> None:
    cases = {
        "/api/v1/calendars": "GET, POST",
        "/api/v1/calendars/cal_x": "DELETE, GET, PATCH",
        "/api/v1/webhook_secret/rotate": "POST",  # the literal path wins over /webhook_secret/{secret_id}
        "/api/v1/webhook_secret/wsec_x": "DELETE",
    }
    for path, allowed in cases.items():
        response = await tenant.client.put(path, json={})
        assert response.status_code == 405 and response.headers["allow"] == allowed, path
    assert (await tenant.client.delete("/api/v1/webhook_secret/rotate")).headers["allow"] == "POST"
