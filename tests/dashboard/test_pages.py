"""The dashboard's pages and actions over HTTP, on SQLite and PostgreSQL: what each page shows, project scoping,
sign-in, CSRF, and that nothing secret is rendered. (test_browser.py drives the same pages in Chromium.)"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select, update

from calsync.context import AppContext
from calsync.dashboard.session import Operator
from calsync.dashboard.web import render, signed_in
from calsync.store.models import ApiKey, Calendar, CalendarEvent, WebhookDelivery
from tests.api.seed import SEED_REQUEST
from tests.dashboard.support import dashboard_client, hidden_fields, sign_in
from tests.support.factories import insert_events
from tests.support.service import Tenant
from tests.webhooks.support import create_webhook, enqueue


async def _calendar(tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    response = await tenant.client.post("/api/v1/calendars", json={**SEED_REQUEST, **overrides})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _set(context: AppContext, object_id: str, **values: Any) -> None:
    async with context.db.write() as session:
        await session.execute(update(Calendar).where(Calendar.object_id == object_id).values(**values))


async def test_pages_show_the_project(context: AppContext, api_url: str, tenant: Tenant) -> None:
    now = context.clock()
    healthy = await _calendar(tenant)
    broken = await _calendar(tenant, deduplication_key="user-broken", metadata={"tenant_id": "77"})
    await _set(
        context,
        healthy["id"],
        last_successful_sync_at=now - timedelta(minutes=5),
        last_attempted_sync_at=now - timedelta(minutes=5),
        push_state="active",
    )
    await _set(
        context,
        broken["id"],
        state="disconnected",
        last_attempted_sync_at=now - timedelta(minutes=2),
        connection_failure_data={"code": "grant_revoked", "error": "Token has been revoked", "timestamp": "t"},
    )
    events = await insert_events(context, healthy["id"], 3, start=now + timedelta(hours=2))
    webhook = await create_webhook(tenant, "http://127.0.0.1:9/hook")
    await enqueue(context, healthy["id"])

    async with dashboard_client(api_url) as client:
        await sign_in(client, tenant.api_key)

        overview = await client.get("/dashboard/")
        assert overview.status_code == 200
        page = overview.text
        assert "2</span> calendars" in page
        assert "disconnected: grant_revoked" in page  # the need-attention list
        assert "Syncs in the last 24 hours" in page and "<svg" in page
        assert "http://127.0.0.1:9/hook" in page

        listing = (await client.get("/dashboard/calendars")).text
        assert healthy["id"] in listing and broken["id"] in listing
        only_broken = (await client.get("/dashboard/calendars", params={"attention": "1"})).text
        assert broken["id"] in only_broken and healthy["id"] not in only_broken
        by_state = (await client.get("/dashboard/calendars", params={"state": "connected"})).text
        assert healthy["id"] in by_state and broken["id"] not in by_state
        for text in (broken["id"], "user-broken", "77"):
            found = (await client.get("/dashboard/calendars", params={"q": text})).text
            assert broken["id"] in found and healthy["id"] not in found, text
        assert "No calendar matches" in (await client.get("/dashboard/calendars", params={"q": "7"})).text

        calendar_page = (await client.get(f"/dashboard/calendars/{healthy['id']}")).text
        assert "The next 7 days" in calendar_page
        for event_id in events:
            assert f"/dashboard/events/{event_id}" in calendar_page
        assert "Event 0" in calendar_page and '<rect class="event' in calendar_page
        assert "calendar.events_update" in calendar_page  # its webhook deliveries

        event_page = (await client.get(f"/dashboard/events/{events[0]}")).text
        assert "Event 0" in event_page and "<details>" in event_page

        webhooks_page = (await client.get("/dashboard/webhooks")).text
        assert webhook["id"] in webhooks_page and "Rotate the signing secret" in webhooks_page
        assert webhook["signing_secret"]["fingerprint"] in webhooks_page
        assert webhook["signing_secret"]["secret"] not in webhooks_page
        single = (await client.get(f"/dashboard/webhooks/{webhook['id']}")).text
        assert "calendar.events_update" in single


async def test_nothing_secret_is_rendered(context: AppContext, api_url: str, tenant: Tenant) -> None:
    calendar = await _calendar(tenant)
    await insert_events(context, calendar["id"], 1, start=context.clock() + timedelta(hours=1))
    webhook = await create_webhook(tenant, "http://127.0.0.1:9/hook")
    secret = webhook["signing_secret"]
    async with dashboard_client(api_url) as client:
        csrf = await sign_in(client, tenant.api_key)
        pages = ["/dashboard/", "/dashboard/calendars", f"/dashboard/calendars/{calendar['id']}", "/dashboard/webhooks"]
        for path in pages:
            text = (await client.get(path)).text
            for value in (SEED_REQUEST["client_secret"], SEED_REQUEST["refresh_token"], tenant.api_key):
                assert value not in text, (path, value)
            assert secret["secret"] not in text and secret["secret_whsec"] not in text

        # The rotated secret is shown once, in the response to the rotation, and never again.
        rotated = await client.post("/dashboard/webhook-secret/rotate", data={"csrf_token": csrf})
        assert rotated.status_code == 200
        assert rotated.headers["cache-control"] == "no-store"
        shown = hidden_secret(rotated.text)
        assert shown and shown.startswith("whsec_")
        again = (await client.get("/dashboard/webhooks")).text
        assert shown not in again and shown.removeprefix("whsec_") not in again


def hidden_secret(page: str) -> str | None:
    marker = '<code class="secret-value">'
    values = [part.split("</code>", 1)[0] for part in page.split(marker)[1:]]
    return next((v for v in values if v.startswith("whsec_")), None)


async def test_another_projects_ids_are_not_found(
    context: AppContext, api_url: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = await _calendar(other_tenant)
    [their_event] = await insert_events(context, theirs["id"], 1, start=context.clock() + timedelta(hours=1))
    their_webhook = await create_webhook(other_tenant, "http://127.0.0.1:9/other")
    await enqueue(context, theirs["id"])
    async with context.db.read() as session:
        their_delivery = (await session.execute(select(WebhookDelivery.object_id))).scalar_one()
    async with dashboard_client(api_url) as client:
        csrf = await sign_in(client, tenant.api_key)
        for path in (
            f"/dashboard/calendars/{theirs['id']}",
            f"/dashboard/calendars/{theirs['id']}/delete",
            f"/dashboard/events/{their_event}",
            f"/dashboard/webhooks/{their_webhook['id']}",
            f"/dashboard/deliveries/{their_delivery}",
        ):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert "not found" in response.text
        for path in (
            f"/dashboard/calendars/{theirs['id']}/sync",
            f"/dashboard/calendars/{theirs['id']}/delete",
            f"/dashboard/deliveries/{their_delivery}/retry",
        ):
            response = await client.post(path, data={"csrf_token": csrf, "confirm_id": theirs["id"]})
            assert response.status_code == 404, path
        assert "No calendar matches" in (await client.get("/dashboard/calendars", params={"q": theirs["id"]})).text
    # Untouched.
    assert (await other_tenant.client.get(f"/api/v1/calendars/{theirs['id']}")).status_code == 200


async def test_sign_in_and_out(context: AppContext, api_url: str, tenant: Tenant) -> None:
    async with dashboard_client(api_url) as client:
        response = await client.get("/dashboard/calendars")
        assert response.status_code == 303
        assert response.headers["location"] == "/dashboard/login?next=%2Fdashboard%2Fcalendars"

        form = await client.get("/dashboard/login")
        fields = hidden_fields(form.text)
        wrong = await client.post(
            "/dashboard/login", data={"login_token": fields["login_token"], "next": "", "api_key": "nope"}
        )
        assert wrong.status_code == 401 and "not valid" in wrong.text

        # A login form without its cookie (posted from another site) is refused.
        async with dashboard_client(api_url) as stranger:
            refused = await stranger.post(
                "/dashboard/login", data={"login_token": fields["login_token"], "api_key": tenant.api_key}
            )
            assert refused.status_code == 403

        fields = hidden_fields((await client.get("/dashboard/login")).text)
        ok = await client.post(
            "/dashboard/login",
            data={"login_token": fields["login_token"], "next": "https://evil.example/", "api_key": tenant.api_key},
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/dashboard/"  # never off-site
        cookie = next(v for k, v in ok.headers.multi_items() if k == "set-cookie" and "calsync_dashboard=" in v)
        lowered = cookie.lower()
        assert "httponly" in lowered and "samesite=lax" in lowered and "path=/dashboard" in lowered
        assert "max-age=28800" in lowered

        page = await client.get("/dashboard/calendars")
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        assert "script-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["server-timing"].startswith("app;dur=")
        csrf = hidden_fields(page.text)["csrf_token"]

        out = await client.post("/dashboard/logout", data={"csrf_token": csrf})
        assert out.status_code == 303
        assert (await client.get("/dashboard/")).status_code == 303


async def test_tampered_expired_and_revoked_sessions(context: AppContext, api_url: str, tenant: Tenant) -> None:
    async with dashboard_client(api_url) as client:
        await sign_in(client, tenant.api_key)
        version, body, signature = client.cookies["calsync_dashboard"].split(".")
    async with dashboard_client(api_url) as forger:
        forger.cookies.set("calsync_dashboard", f"{version}.{body}x.{signature}", domain="127.0.0.1", path="/dashboard")
        assert (await forger.get("/dashboard/")).status_code == 303

    async with dashboard_client(api_url) as client:
        await sign_in(client, tenant.api_key)
        clock = context.clock
        context.clock = lambda: clock() + timedelta(hours=8, seconds=1)
        try:
            assert (await client.get("/dashboard/")).status_code == 303
        finally:
            context.clock = clock

    async with dashboard_client(api_url) as client:
        await sign_in(client, tenant.api_key)
        async with context.db.write() as session:
            await session.execute(update(ApiKey).values(revoked_at=context.clock()))
        assert (await client.get("/dashboard/")).status_code == 303


async def test_actions_need_the_csrf_token(context: AppContext, api_url: str, tenant: Tenant) -> None:
    calendar = await _calendar(tenant)
    await _set(context, calendar["id"], sync_due_at=context.clock() + timedelta(hours=1))
    async with dashboard_client(api_url) as client:
        csrf = await sign_in(client, tenant.api_key)
        path = f"/dashboard/calendars/{calendar['id']}/sync"
        assert (await client.post(path, data={"other": "1"})).status_code == 403
        assert (await client.post(path, data={"csrf_token": "0" * 64})).status_code == 403
        cross_site = await client.post(path, data={"csrf_token": csrf}, headers={"Origin": "https://evil.example"})
        assert cross_site.status_code == 403
        as_json = await client.post(path, json={"csrf_token": csrf})
        assert as_json.status_code == 415

        # Another session's token does not fit this session.
        async with dashboard_client(api_url) as other:
            other_csrf = await sign_in(other, tenant.api_key)
        assert (await client.post(path, data={"csrf_token": other_csrf})).status_code == 403

        async with context.db.read() as session:
            due = (await session.execute(select(Calendar.sync_due_at))).scalar_one()
        assert due > context.clock() + timedelta(minutes=30)  # none of the above did anything

        done = await client.post(path, data={"csrf_token": csrf}, headers={"Origin": api_url})
        assert done.status_code == 303
        assert done.headers["location"] == f"/dashboard/calendars/{calendar['id']}?notice=sync_requested"
        async with context.db.read() as session:
            due = (await session.execute(select(Calendar.sync_due_at))).scalar_one()
        assert due <= context.clock()


async def test_delete_asks_for_the_id(context: AppContext, api_url: str, tenant: Tenant) -> None:
    calendar = await _calendar(tenant)
    bot_id = await _bot_on_an_event_of(context, tenant, calendar["id"])
    async with dashboard_client(api_url) as client:
        csrf = await sign_in(client, tenant.api_key)
        confirm = await client.get(f"/dashboard/calendars/{calendar['id']}/delete")
        assert confirm.status_code == 200 and "Type the calendar" in confirm.text
        path = f"/dashboard/calendars/{calendar['id']}/delete"
        wrong = await client.post(path, data={"csrf_token": csrf, "confirm_id": "cal_other"})
        assert wrong.status_code == 400
        assert (await tenant.client.get(f"/api/v1/calendars/{calendar['id']}")).status_code == 200
        done = await client.post(path, data={"csrf_token": csrf, "confirm_id": calendar["id"]})
        assert done.status_code == 303
    assert (await tenant.client.get(f"/api/v1/calendars/{calendar['id']}")).status_code == 404
    # As the API's DELETE: its bots are cancelled with it, never left to be dispatched without their calendar.
    bot = await tenant.client.get(f"/api/v1/bots/{bot_id}")
    assert (bot.json()["state"], bot.json()["state_reason"]["code"]) == ("cancelled", "calendar_deleted")


async def _bot_on_an_event_of(context: AppContext, tenant: Tenant, calendar_id: str) -> str:
    [event_id] = await insert_events(context, calendar_id, 1, start=context.clock() + timedelta(days=1))
    async with context.db.write() as session:
        statement = update(CalendarEvent).where(CalendarEvent.object_id == event_id)
        await session.execute(statement.values(meeting_url="https://meet.google.com/abc-defg-hij"))
    response = await tenant.client.post("/api/v1/bots", json={"calendar_event_id": event_id})
    assert response.status_code == 201, response.text
    bot_id: str = response.json()["id"]
    return bot_id


async def test_retry_a_delivery(context: AppContext, api_url: str, tenant: Tenant) -> None:
    calendar = await _calendar(tenant)
    await create_webhook(tenant, "http://127.0.0.1:9/hook")
    await enqueue(context, calendar["id"])
    async with context.db.write() as session:
        delivery = (await session.execute(select(WebhookDelivery))).scalar_one()
        delivery.status, delivery.next_attempt_at, delivery.attempts = "failed", None, 7
        delivery.last_error = "HTTP 503"
        object_id = delivery.object_id
    async with dashboard_client(api_url) as client:
        csrf = await sign_in(client, tenant.api_key)
        page = (await client.get(f"/dashboard/deliveries/{object_id}")).text
        assert "Retry now" in page and "HTTP 503" in page
        retried = await client.post(f"/dashboard/deliveries/{object_id}/retry", data={"csrf_token": csrf})
        assert retried.status_code == 303
        after = (await client.get(retried.headers["location"])).text
        assert "queued again" in after
    async with context.db.read() as session:
        delivery = (await session.execute(select(WebhookDelivery))).scalar_one()
    assert delivery.status == "pending" and delivery.next_attempt_at is not None


async def test_lists_are_keyset_pages(context: AppContext, api_url: str, tenant: Tenant) -> None:
    created = [await _calendar(tenant, deduplication_key=f"user-{i}") for i in range(30)]
    async with dashboard_client(api_url) as client:
        await sign_in(client, tenant.api_key)
        first = (await client.get("/dashboard/calendars")).text
        seen = {c["id"] for c in created if c["id"] in first}
        assert len(seen) == 25
        next_link = first.split('rel="next"', 1)[0].rsplit('href="', 1)[1].split('"', 1)[0]
        second = (await client.get("/dashboard/calendars" + next_link.replace("&amp;", "&"))).text
        rest = {c["id"] for c in created if c["id"] in second}
        assert len(rest) == 5 and not rest & seen
        bad = await client.get("/dashboard/calendars", params={"cursor": "garbage"})
        assert bad.status_code == 404 and "<html" in bad.text


async def test_unknown_page_and_static_assets(api_url: str, tenant: Tenant) -> None:
    async with httpx.AsyncClient(base_url=api_url) as client:
        assert (await client.get("/dashboard")).status_code in (307, 308)
        css = await client.get("/dashboard/static/dashboard.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        assert "max-age" in css.headers["cache-control"]
        missing = await client.get("/dashboard/nope")
        assert missing.status_code == 404 and "<html" in missing.text
        # The API's schema does not list the dashboard.
        schema = (await client.get("/openapi.json")).json()
        assert not [p for p in schema["paths"] if p.startswith("/dashboard")]


async def test_errors_are_pages(context: AppContext, api_url: str, tenant: Tenant, monkeypatch: Any) -> None:
    from sqlalchemy.exc import OperationalError

    from calsync.dashboard import overview_counts
    from calsync.dashboard.overview_cache import Counted, OverviewCache

    async def counted_now(_cache: Any, _project_id: int, now: Any, count: Any) -> Counted:
        return Counted(await count(), now, reused=False)

    # Every load counts (one slow count on a loaded machine would otherwise be shown again without a query).
    monkeypatch.setattr(OverviewCache, "get", counted_now)

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    async def unavailable(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError("SELECT 1", {}, Exception("database is locked"))

    async with dashboard_client(api_url) as client:
        await sign_in(client, tenant.api_key)
        monkeypatch.setattr(overview_counts, "calendar_overview", broken)
        page = await client.get("/dashboard/")
        assert page.status_code == 500 and "Error ID:" in page.text and "a bug" not in page.text
        assert "<html" in page.text and page.headers["content-security-policy"]
        monkeypatch.setattr(overview_counts, "calendar_overview", unavailable)
        page = await client.get("/dashboard/")
        assert page.status_code == 503 and page.headers["retry-after"] == "2"


_bots_router = APIRouter()


@_bots_router.get("/bots")
async def _bots_page(request: Request, operator: Annotated[Operator, Depends(signed_in)]) -> Response:
    return render(request, "error.html", title="Bots", message=f"bots of {operator.project_object_id}", status=200)


class _BotsLike:
    """An extension as the bots package will add one (docs/dashboard.md)."""

    name = "bots"

    def nav_links(self) -> list[Any]:
        from calsync.dashboard.extensions import NavLink

        return [NavLink("Bots", "/bots")]

    def router(self) -> Any:

        from fastapi import APIRouter

        from calsync.dashboard.web import render

        router = APIRouter()

        @router.get("/bots")
        async def bots_page(request: Request, operator: Annotated[Operator, Depends(signed_in)]) -> Any:
            return render(
                request, "error.html", title="Bots", message=f"bots of {operator.project_object_id}", status=200
            )

        return router

    async def overview_panel(self, session: Any, context: Any) -> Any:
        from markupsafe import Markup

        return Markup('<section id="bots-due"><h2>Bots due in the next hour</h2></section>')

    async def calendar_panel(self, session: Any, context: Any, calendar: Any) -> Any:
        from markupsafe import Markup

        return Markup('<section id="calendar-extra"><h2>Extra about the calendar</h2></section>')

    async def event_panel(self, session: Any, context: Any, event: Any) -> Any:
        from markupsafe import Markup

        return Markup('<section id="event-extra"><h2>Extra about the event</h2></section>')

    async def event_badges(self, session: Any, context: Any, event_ids: Any) -> dict[int, list[Any]]:
        from calsync.dashboard.extensions import EventBadge

        return {
            event_id: [EventBadge("bot scheduled", "pending", href=f"{context.base}/bots")] for event_id in event_ids
        }


async def test_an_extension_adds_pages_panels_and_badges(context: AppContext, tenant: Tenant) -> None:
    from fastapi import FastAPI

    from calsync.dashboard.app import create_dashboard_app
    from tests.support.service import serve_app

    calendar = await _calendar(tenant)
    [event_id] = await insert_events(context, calendar["id"], 1, start=context.clock() + timedelta(hours=1))
    app = FastAPI()
    app.mount("/dashboard", create_dashboard_app(context, extensions=[_BotsLike()]))
    async with serve_app(app) as url, dashboard_client(url) as client:
        await sign_in(client, tenant.api_key)
        overview = (await client.get("/dashboard/")).text
        assert 'href="/dashboard/bots"' in overview and "Bots due in the next hour" in overview
        bots = await client.get("/dashboard/bots")
        assert bots.status_code == 200 and tenant.project_object_id in bots.text
        calendar_page = (await client.get(f"/dashboard/calendars/{calendar['id']}")).text
        assert '<th scope="col">Bots</th>' in calendar_page and "bot scheduled" in calendar_page
        assert "not part of this build" not in calendar_page
        assert "Extra about the calendar" in calendar_page
        event_page = (await client.get(f"/dashboard/events/{event_id}")).text
        assert "bot scheduled" in event_page and "Extra about the event" in event_page


async def test_delivery_counts_are_capped(context: AppContext, api_url: str, tenant: Tenant, monkeypatch: Any) -> None:
    from calsync.dashboard import queries

    monkeypatch.setattr(queries, "COUNT_CAP", 2)
    calendar = await _calendar(tenant)
    webhook = await create_webhook(tenant, "http://127.0.0.1:9/hook")
    for _ in range(3):
        await enqueue(context, calendar["id"])
    async with context.db.write() as session:
        first = (await session.execute(select(WebhookDelivery).order_by(WebhookDelivery.id))).scalars().first()
        assert first is not None
        first.status, first.next_attempt_at = "failed", None
    async with context.db.read() as session:
        [health] = await queries.webhook_health(session, tenant.project_id, context.clock())
    assert health.counts == {"succeeded": 0, "failed": 1, "pending": 2, "delivering": 0}
    assert queries.count_text(health.queued) == "2+"
    async with dashboard_client(api_url) as client:
        await sign_in(client, tenant.api_key)
        page = (await client.get(f"/dashboard/webhooks/{webhook['id']}")).text
        assert "Queued now</dt><dd>2+</dd>" in page
