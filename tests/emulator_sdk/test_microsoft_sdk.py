"""msal + msgraph-sdk against the emulator over https: what worked before (AADSTS errors, paging, delta
rounds with @removed, 410, subscriptions) and what was added later (OIDC discovery, client_info and a
signed id_token so msal's account cache and acquire_token_silent work, delta(), event listings with
$top/$select/$filter/$orderby, Graph-shaped errors for unknown routes)."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import jwt
import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.subscription import Subscription
from msgraph.generated.users.item.calendar_view.calendar_view_request_builder import CalendarViewRequestBuilder
from msgraph.generated.users.item.calendar_view.delta.delta_request_builder import DeltaRequestBuilder
from msgraph.generated.users.item.events.events_request_builder import EventsRequestBuilder

from tests.emulator_sdk.conftest import sdk

SCOPES = ["https://graph.microsoft.com/Calendars.Read"]
START, END = "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"


@pytest.fixture
async def account(mcontrol) -> dict[str, Any]:
    return await mcontrol.create_account("microsoft", display_name="Ada Lovelace", calendars=[{"name": "Side"}])


@pytest.fixture
def app(ms_emu, account):
    app = sdk.msal_app(ms_emu.base_url, account["client_id"], account["client_secret"], ms_emu.ca_path)
    # the emulator's accounts come with a refresh token; msal's migration call puts it (and the account) in its cache
    result = app.acquire_token_by_refresh_token(account["refresh_token"], scopes=SCOPES)
    assert "access_token" in result, result
    return app


@pytest.fixture
def graph(ms_emu, app):
    tokens = sdk.MsalTokenProvider(app, SCOPES, urlparse(ms_emu.base_url).hostname)
    return sdk.graph_client(ms_emu.base_url, tokens, ms_emu.ca_path)


def config(query: Any = None, prefer: str | None = None) -> RequestConfiguration:
    conf = RequestConfiguration(query_parameters=query)
    if prefer:
        conf.headers.add("Prefer", prefer)
    return conf


async def test_msal_discovery_account_cache_and_silent_refresh(ms_emu, app, account, mcontrol):
    assert app.authority.token_endpoint == f"{ms_emu.base_url}/microsoft/login/common/oauth2/v2.0/token"
    [cached] = app.get_accounts()
    assert cached["username"] == account["email"] and cached["local_account_id"] == account["user_id"]
    assert cached["home_account_id"].startswith(account["user_id"] + ".")
    silent = app.acquire_token_silent(SCOPES, account=cached)
    assert silent["token_source"] == "cache"
    refreshed = app.acquire_token_silent(SCOPES, account=cached, force_refresh=True)
    assert refreshed["token_source"] == "identity_provider" and refreshed["access_token"] != silent["access_token"]
    assert refreshed["id_token_claims"]["name"] == "Ada Lovelace"


async def test_id_token_verifies_against_the_published_jwks(ms_emu, app, account):
    [cached] = app.get_accounts()
    result = app.acquire_token_silent(SCOPES, account=cached, force_refresh=True)
    discovery = json.loads(
        app.http_client.get(f"{ms_emu.microsoft_authority}/v2.0/.well-known/openid-configuration").text
    )
    keys = jwt.PyJWKClient(discovery["jwks_uri"], ssl_context=ms_emu.ssl_context())
    key = keys.get_signing_key_from_jwt(result["id_token"])
    claims = jwt.decode(result["id_token"], key.key, algorithms=["RS256"], audience=account["client_id"])
    assert claims["oid"] == account["user_id"] and claims["preferred_username"] == account["email"]
    assert claims["iss"] == discovery["issuer"].replace("{tenantid}", claims["tid"])
    head, _, signature = result["id_token"].split(".")
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "oid": "someone-else"}).encode()).rstrip(b"=").decode()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(f"{head}.{forged}.{signature}", key.key, algorithms=["RS256"], audience=account["client_id"])


@pytest.mark.parametrize(
    ("reason", "error", "code"),
    [
        ("revoked", "invalid_grant", 50173),
        ("inactive", "invalid_grant", 700082),
        ("interaction_required", "interaction_required", 50076),
        ("consent_required", "invalid_grant", 65001),
    ],
)
async def test_aadsts_errors_reach_msal(app, account, mcontrol, reason, error, code):
    await mcontrol.revoke_grant(account["id"], reason)
    [cached] = app.get_accounts()
    result = app.acquire_token_silent_with_error(SCOPES, account=cached, force_refresh=True)
    assert result["error"] == error and result["error_codes"] == [code]
    assert result["error_description"].startswith(f"AADSTS{code}:")


async def test_wrong_client_secret_is_7000215(ms_emu, account):
    app = sdk.msal_app(ms_emu.base_url, account["client_id"], "wrong", ms_emu.ca_path)
    result = app.acquire_token_by_refresh_token(account["refresh_token"], scopes=SCOPES)
    assert result["error"] == "invalid_client" and result["error_codes"] == [7000215]


async def test_me_calendars_and_paged_calendar_view(graph, account, mcontrol):
    cal = account["primary_calendar_id"]
    for day in range(2, 7):
        await mcontrol.create_event(cal, f"2026-03-0{day}T09:00:00Z", f"2026-03-0{day}T10:00:00Z", summary=f"e{day}")
    me = await graph.me.get()
    assert me.id == account["user_id"] and me.display_name == "Ada Lovelace"
    calendars = await graph.me.calendars.get()
    assert [c.is_default_calendar for c in calendars.value] == [True, False]
    query = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(
        start_date_time=START, end_date_time=END, top=2, select=["subject", "start"]
    )
    page = await graph.me.calendar_view.get(request_configuration=config(query))
    subjects, pages = [e.subject for e in page.value], 1
    while page.odata_next_link:
        page = await graph.me.calendar_view.with_url(page.odata_next_link).get()
        subjects += [e.subject for e in page.value]
        pages += 1
    assert pages == 3 and subjects == ["e2", "e3", "e4", "e5", "e6"]
    assert page.value[0].end is None  # not selected


async def delta_round(graph, first_url: str | None = None, prefer: str = "odata.maxpagesize=2") -> tuple[list, str]:
    items: list = []
    if first_url is None:
        query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(start_date_time=START, end_date_time=END)
        page = await graph.me.calendar_view.delta.get(request_configuration=config(query, prefer))
    else:
        page = await graph.me.calendar_view.delta.with_url(first_url).get(request_configuration=config(None, prefer))
    for _ in range(20):
        items += page.value
        if page.odata_delta_link:
            return items, page.odata_delta_link
        page = await graph.me.calendar_view.delta.with_url(page.odata_next_link).get(
            request_configuration=config(None, prefer)
        )
    raise AssertionError("no deltaLink")


async def test_delta_rounds_removed_and_410(ms_emu, graph, account, mcontrol):
    cal = account["primary_calendar_id"]
    kept = await mcontrol.create_event(cal, "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z", summary="kept")
    gone = await mcontrol.create_event(cal, "2026-03-03T09:00:00Z", "2026-03-03T10:00:00Z", summary="gone")
    await mcontrol.create_event(
        cal, "2026-03-09T09:00:00Z", "2026-03-09T10:00:00Z", summary="weekly", recurrence=["RRULE:FREQ=WEEKLY;COUNT=3"]
    )
    items, link = await delta_round(graph)
    assert sorted(e.subject for e in items) == ["gone", "kept", "weekly", "weekly", "weekly"]
    assert "/calendarView/delta()?$deltatoken=" in link  # the SDK's function-call form, kept in the links
    await mcontrol.update_event(cal, kept["id"], summary="renamed")
    await mcontrol.delete_event(cal, gone["id"])
    changes, link2 = await delta_round(graph, link)
    by_id = {e.id: e for e in changes}
    assert by_id[kept["id"]].subject == "renamed"
    assert by_id[gone["id"]].additional_data["@removed"] == {"reason": "deleted"}
    # the plain `delta` form is routed too (calsync and hand-written clients use it), and its links keep it
    plain = await graph.me.calendar_view.delta.with_url(link2.replace("/delta()?", "/delta?")).get()
    assert plain.value == [] and "/calendarView/delta?$deltatoken=" in plain.odata_delta_link
    await mcontrol.expire_sync_state(account["id"])
    with pytest.raises(ODataError) as expired:
        await graph.me.calendar_view.delta.with_url(link2).get()
    assert expired.value.response_status_code == 410 and expired.value.error.code == "SyncStateNotFound"


async def test_event_listings_top_select_filter_orderby(graph, account, mcontrol):
    cal, side = account["primary_calendar_id"], account["calendars"][1]["id"]
    for day, subject in [(4, "c"), (2, "a"), (3, "b"), (5, "d")]:
        await mcontrol.create_event(cal, f"2026-03-0{day}T09:00:00Z", f"2026-03-0{day}T10:00:00Z", summary=subject)
    series = await mcontrol.create_event(
        cal, "2026-03-10T09:00:00Z", "2026-03-10T10:00:00Z", summary="series", recurrence=["RRULE:FREQ=DAILY;COUNT=3"]
    )
    await mcontrol.create_event(side, "2026-03-02T12:00:00Z", "2026-03-02T13:00:00Z", summary="side")
    listing = await graph.me.events.get()
    assert [(e.subject, e.type.value) for e in listing.value] == [
        ("a", "singleInstance"),
        ("b", "singleInstance"),
        ("c", "singleInstance"),
        ("d", "singleInstance"),
        ("series", "seriesMaster"),
    ]  # masters, never occurrences; the default calendar only
    query = EventsRequestBuilder.EventsRequestBuilderGetQueryParameters(
        top=2,
        select=["subject"],
        filter="start/dateTime ge '2026-03-03T00:00:00' and start/dateTime lt '2026-03-10T00:00:00Z'",
        orderby=["start/dateTime desc"],
    )
    page = await graph.me.events.get(request_configuration=config(query))
    subjects = [e.subject for e in page.value]
    assert page.value[0].start is None and "$skip=2" in page.odata_next_link
    while page.odata_next_link:
        page = await graph.me.events.with_url(page.odata_next_link).get()
        subjects += [e.subject for e in page.value]
    assert subjects == ["d", "c", "b"]
    side_events = await graph.me.calendars.by_calendar_id(side).events.get()
    assert [e.subject for e in side_events.value] == ["side"]
    by_subject = EventsRequestBuilder.EventsRequestBuilderGetQueryParameters(filter="subject eq 'SERIES'")
    found = await graph.me.events.get(request_configuration=config(by_subject))
    assert [e.id for e in found.value] == [series["id"]]
    for bad, code in [
        ("id eq 'x'", "ErrorInvalidProperty"),
        ("nope eq 1", "RequestBroker--ParseUri"),
        ("subject eq", "BadRequest"),
    ]:
        query = EventsRequestBuilder.EventsRequestBuilderGetQueryParameters(filter=bad)
        with pytest.raises(ODataError) as refused:
            await graph.me.events.get(request_configuration=config(query))
        assert refused.value.response_status_code == 400 and refused.value.error.code == code


async def test_subscriptions_notify_renew_delete(graph, account, mcontrol, receiver):
    expiry = datetime.now(UTC) + timedelta(days=2)
    created = await graph.subscriptions.post(
        Subscription(
            change_type="created,updated,deleted",
            notification_url=f"{receiver.base_url}/notify",
            lifecycle_notification_url=f"{receiver.base_url}/lifecycle",
            resource="me/events",
            expiration_date_time=expiry,
            client_state="secret",
        )
    )
    assert created.id and created.client_state == "secret" and created.resource == "me/events"
    await mcontrol.create_event(account["primary_calendar_id"], "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z")
    await mcontrol.wait_notifications(5)
    [note] = [r.json() for r in receiver.requests_to("/notify") if r.body]
    assert note["value"][0]["subscriptionId"] == created.id and note["value"][0]["changeType"] == "created"
    renewed = await graph.subscriptions.by_subscription_id(created.id).patch(
        Subscription(expiration_date_time=expiry + timedelta(days=1))
    )
    assert renewed.expiration_date_time > created.expiration_date_time
    assert [s.id for s in (await graph.subscriptions.get()).value] == [created.id]
    await graph.subscriptions.by_subscription_id(created.id).delete()
    with pytest.raises(ODataError) as missing:
        await graph.subscriptions.by_subscription_id(created.id).get()
    assert missing.value.response_status_code == 404


async def test_errors_in_graphs_envelope(graph, account, mcontrol):
    with pytest.raises(ODataError) as unknown:
        await graph.me.calendars.by_calendar_id("AAMkAGnope").get()
    assert unknown.value.response_status_code == 404 and unknown.value.error.code == "ErrorItemNotFound"
    # a route the emulator does not have: Graph's BadRequest, not FastAPI's {"detail": …}
    with pytest.raises(ODataError) as segment:
        await graph.me.messages.get()
    assert segment.value.response_status_code == 400 and segment.value.error.code == "BadRequest"
    assert segment.value.error.message == "Resource not found for the segment 'messages'."
    await mcontrol.patch_account(account["id"], mailbox_enabled=False)
    with pytest.raises(ODataError) as mailbox:
        await graph.me.calendar.get()
    assert mailbox.value.error.code == "MailboxNotEnabledForRESTAPI"


async def test_throttling_is_retried_by_the_sdk(graph, mcontrol):
    # msgraph's RetryHandler honours Retry-After on 429: one injected throttle costs one retry, no error
    await mcontrol.add_fault(
        "throttle_429", platform="microsoft", count=1, retry_after=0, path_contains="/me/calendars"
    )
    calendars = await asyncio.wait_for(graph.me.calendars.get(), 30)
    assert len(calendars.value) == 2
