"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a real `calsync serve`
(a subprocess, as `make serve` runs it) and the emulator, on SQLite and PostgreSQL.

Chromium is /usr/bin/chromium (`make test` installs Debian's package when it is missing; Playwright's own
browser download is never used). Without it these tests are skipped, unless CALSYNC_REQUIRE_BROWSER=1 (or
CALSYNC_REQUIRE_POSTGRES=1), which `.ci/run` sets: then they fail.

Screenshots of the main pages are written to the test's temporary folder, and to CALSYNC_SCREENSHOTS_DIR when
set (docs/dashboard.md shows them: `CALSYNC_SCREENSHOTS_DIR=docs/images/dashboard make unit PYTEST_ARGS="-k
browser and sqlite"`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from calsync.context import AppContext
from calsync.settings import Settings
from calsync.store.queries import projects as project_queries
from calsync_emulator.client import EmulatorControl
from calsync_emulator.testing import RunningEmulator
from tests.support.service import free_port
from tests.webhooks.support import Receiver, running_receiver

CHROMIUM = os.environ.get("CALSYNC_CHROMIUM", "/usr/bin/chromium")
# The flags of the brief: headless, no sandbox (root in a container), and nothing that phones home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_SECONDS = 30.0
SERVE_START_SECONDS = 60.0

pytestmark = pytest.mark.timeout(240)


def _browser_required() -> bool:
    return os.environ.get("CALSYNC_REQUIRE_BROWSER") == "1" or os.environ.get("CALSYNC_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="session")
def chromium() -> str:
    problem = None
    if not Path(CHROMIUM).exists():
        problem = f"Chromium is not installed at {CHROMIUM} (`apt-get install chromium`; `make test` does it)"
    else:
        try:
            import playwright.async_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is missing (make test installs the locked dev dependencies)"
    if problem is not None:
        if _browser_required():
            pytest.fail(f"browser tests are required (CALSYNC_REQUIRE_BROWSER=1) but {problem}")
        pytest.skip(problem)
    return CHROMIUM


@dataclass
class Served:
    url: str
    api_key: str
    settings: Settings
    log: Path


@pytest.fixture
def serve_port() -> int:
    return free_port()


@contextlib.contextmanager
def _calsync_serve(env: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    command = [str(Path(sys.executable).with_name("calsync")), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
async def served(
    chromium: str,
    database_url: str,
    emulator: RunningEmulator,
    encryption_key: str,
    serve_port: int,
    tmp_path: Path,
) -> AsyncIterator[Served]:
    """`calsync serve` on 127.0.0.1, pointed at the emulator with push channels on, as in the README."""
    data_dir = tmp_path / "data"
    url = f"http://127.0.0.1:{serve_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALSYNC_")}
    env |= emulator.settings_env()
    env |= {
        "CALSYNC_DATABASE_URL": database_url,
        "CALSYNC_ENCRYPTION_KEYS": encryption_key,
        "CALSYNC_DATA_DIR": str(data_dir),
        "CALSYNC_PUBLIC_URL": url,
        "CALSYNC_WEBHOOK_ALLOW_HTTP": "true",
        "CALSYNC_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        # A failed delivery settles as `failed` after a second or two, so the test can retry it by hand.
        "CALSYNC_WEBHOOK_RETRY_HORIZON_HOURS": "0.0005",
        "CALSYNC_WORKER_POLL_INTERVAL_SECONDS": "0.2",
        "CALSYNC_SYNC_DEBOUNCE_SECONDS": "0.05",
        "CALSYNC_LOG_LEVEL": "INFO",
    }
    log = tmp_path / "calsync-serve.log"
    with _calsync_serve(env, serve_port, log) as process:
        deadline = time.monotonic() + SERVE_START_SECONDS
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                if process.poll() is not None:
                    raise AssertionError(f"calsync serve exited:\n{log.read_text()}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{url}/health")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise AssertionError(f"calsync serve did not start:\n{log.read_text()}")
                await asyncio.sleep(0.1)
        api_key = (data_dir / "api-key").read_text().strip()
        settings = Settings(database_url=database_url, encryption_keys=encryption_key, data_dir=data_dir)
        yield Served(url, api_key, settings, log)
    # The server's side, in the captured output pytest shows when the test failed.
    print(log.read_text()[-20000:])


@dataclass
class Browser:
    """One Chromium with one context (cookie jar), recording every request the pages make."""

    context: Any
    page: Any
    requests: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


@pytest.fixture
async def browser(chromium: str, served: Served) -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright

    allowed_host = urlsplit(served.url).netloc
    async with async_playwright() as playwright:
        chromium_browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = await chromium_browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-GB")
            recorded = Browser(context=context, page=None)

            async def only_local(route: Any) -> None:
                # Nothing may leave 127.0.0.1: anything else is recorded and never sent.
                url = route.request.url
                recorded.requests.append(url)
                if urlsplit(url).netloc == allowed_host:
                    await route.continue_()
                else:
                    recorded.refused.append(url)
                    await route.abort()

            await context.route("**/*", only_local)
            recorded.page = await context.new_page()
            recorded.page.set_default_timeout(15_000)
            yield recorded
            await context.close()
        finally:
            await chromium_browser.close()


@pytest.fixture
async def control(emulator: RunningEmulator) -> AsyncIterator[EmulatorControl]:
    async with emulator.control() as client:
        await client.reset()
        yield client


@pytest.fixture
def screenshots(tmp_path: Path, database_url: str) -> Callable[[Any, str], Awaitable[None]]:
    target = os.environ.get("CALSYNC_SCREENSHOTS_DIR")
    folder = tmp_path / "screenshots"
    folder.mkdir()
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)

    async def take(page: Any, name: str) -> None:
        path = folder / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        if target and database_url.startswith("sqlite"):
            shutil.copyfile(path, Path(target) / path.name)

    return take


async def reload_until(page: Any, check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Reload the page until `check()` holds (bounded): the pages have no script, an operator reloads."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{what}: not shown within {WAIT_SECONDS} s; the page says:\n{await page.inner_text('main')}"
            )
        await asyncio.sleep(0.3)
        await page.reload()


def nav(page: Any, name: str) -> Any:
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)


async def sign_in(page: Any, served: Served, api_key: str) -> None:
    await page.goto(f"{served.url}/dashboard/")
    assert urlsplit(page.url).path == "/dashboard/login"
    await page.get_by_label("API key").fill(api_key)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{served.url}/dashboard/")


async def connect_ada(served: Served, control: EmulatorControl) -> tuple[dict[str, Any], dict[str, Any], datetime]:
    """The README's walkthrough: Ada's Google account with a design review tomorrow at 15:00, handed to calsync."""
    account = await control.create_account(
        "google",
        email="ada@example.com",
        client_id="123456789-abcdefghijklmnopqrstuvwxyz.apps.googleusercontent.com",
        client_secret="GOCSPX-abcdefghijklmnopqrstuvwxyz",
        refresh_token="1//04abcdefghijklmnopqrstuvwxyz",
    )
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(hour=15, minute=0, second=0, microsecond=0)
    event = await control.create_event(
        account["primary_calendar_id"],
        tomorrow,
        tomorrow + timedelta(hours=1),
        summary="Design review",
        description="Join at https://meet.google.com/abc-defg-hij",
        attendees=[
            {"email": "bob@example.com", "name": "Bob", "response": "accepted"},
            {"email": "cleo@example.com", "name": "Cleo", "response": "declined"},
        ],
    )
    # A week around it, so the timeline has lanes: a daily stand-up on Zoom, a 1:1 overlapping the review, a call.
    await control.create_event(
        account["primary_calendar_id"],
        tomorrow - timedelta(hours=6),
        tomorrow - timedelta(hours=5, minutes=45),
        summary="Stand-up",
        location="https://zoom.us/j/123456789",
        recurrence=["RRULE:FREQ=DAILY;COUNT=6"],
    )
    await control.create_event(
        account["primary_calendar_id"],
        tomorrow + timedelta(minutes=30),
        tomorrow + timedelta(hours=1, minutes=30),
        summary="1:1 with Bob",
    )
    await control.create_event(
        account["primary_calendar_id"],
        tomorrow + timedelta(days=2, hours=-2),
        tomorrow + timedelta(days=2, hours=-1, minutes=-15),
        summary="Customer call",
        description="Teams: https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40thread.v2/0",
    )
    async with httpx.AsyncClient(base_url=served.url, headers={"Authorization": f"Token {served.api_key}"}) as api:
        created = await api.post(
            "/api/v1/calendars",
            json={
                "client_id": account["client_id"],
                "client_secret": account["client_secret"],
                "refresh_token": account["refresh_token"],
                "platform": "google",
                "metadata": {"tenant_id": "1234567890"},
                "deduplication_key": "user-abcd",
            },
        )
        assert created.status_code == 201, created.text
    return account, event, tomorrow


async def test_operator_walkthrough(
    served: Served,
    browser: Browser,
    control: EmulatorControl,
    screenshots: Callable[[Any, str], Awaitable[None]],
) -> None:
    page = browser.page
    async with running_receiver(status=503) as receiver:
        await _walkthrough(served, browser, control, receiver, screenshots)
    assert browser.refused == [], f"requests that would have left 127.0.0.1: {browser.refused}"
    assert browser.requests, "no request was recorded"
    assert all(urlsplit(url).hostname == "127.0.0.1" for url in browser.requests)
    await page.close()


async def _walkthrough(
    served: Served,
    browser: Browser,
    control: EmulatorControl,
    receiver: Receiver,
    screenshots: Callable[[Any, str], Awaitable[None]],
) -> None:
    page = browser.page
    async with httpx.AsyncClient(base_url=served.url, headers={"Authorization": f"Token {served.api_key}"}) as api:
        hook = await api.post(
            "/api/v1/webhooks",
            json={"url": receiver.url, "triggers": ["calendar.events_update", "calendar.state_change"]},
        )
        assert hook.status_code == 201, hook.text
    account, event, tomorrow = await connect_ada(served, control)

    # Sign in with the key `calsync serve` printed on its first start.
    await sign_in(page, served, served.api_key)
    assert await page.get_by_role("heading", name="Overview", exact=True).is_visible()
    cookie = next(c for c in await browser.context.cookies() if c["name"] == "calsync_dashboard")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/dashboard"
    assert 7.9 * 3600 < cookie["expires"] - time.time() <= 8 * 3600

    # The freshly synced calendar, found by its deduplication key.
    await nav(page, "Calendars").click()
    await page.get_by_label("Calendar id, deduplication key or metadata value").fill("user-abcd")
    await page.get_by_role("button", name="Filter").click()
    await page.get_by_role("link", name="cal_", exact=False).first.click()
    upcoming = page.locator("#upcoming")

    async def design_review_at(hour: str) -> bool:
        return await upcoming.count() > 0 and f"{tomorrow:%Y-%m-%d} {hour} UTC" in await upcoming.inner_text()

    await reload_until(page, lambda: design_review_at("15:00"), "the synced event on the timeline")
    row = upcoming.get_by_role("row", name="Design review")
    assert "google_meet: https://meet.google.com/abc-defg-hij" in await row.inner_text()
    bar = page.locator("svg a").filter(has=page.locator("title", has_text="Design review"))
    assert await bar.locator("rect.event-meeting").count() == 1
    assert await page.locator("svg a").count() == 9  # 6 stand-ups, the review, the 1:1 and the call
    await reload_until(
        page, lambda: page.get_by_text("active", exact=True).first.is_visible(), "an active push channel"
    )
    await screenshots(page, "calendar")

    # The event page, reached with the keyboard alone: Tab from the top of the page to the event's bar on the
    # timeline (an SVG link), Enter. Fields, attendees with their answers, the meeting link and where it was found.
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
    for _ in range(60):
        await page.keyboard.press("Tab")
        if await page.evaluate(
            "document.activeElement.closest('svg') !== null"
            " && document.activeElement.textContent.includes('Design review')"
        ):
            break
    else:
        raise AssertionError("the timeline's event is not reachable with the keyboard")
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{served.url}/dashboard/events/*")
    assert await page.get_by_role("heading", name="Design review").is_visible()
    main = await page.inner_text("main")
    assert "https://meet.google.com/abc-defg-hij" in main and "description" in main
    attendees = page.get_by_role("table").filter(has_text="bob@example.com")
    assert "accepted" in await attendees.get_by_role("row", name="Bob").inner_text()
    assert "declined" in await attendees.get_by_role("row", name="Cleo").inner_text()
    raw = page.locator("details", has_text="The event as google sent it")
    assert not await raw.locator("pre").is_visible()  # folded away
    await screenshots(page, "event")
    await raw.locator("summary").click()
    assert await raw.locator("pre").is_visible()
    await page.go_back()

    # Move the event on the platform; the push channel brings the change; a reload shows the new time.
    await control.update_event(
        account["primary_calendar_id"],
        event["id"],
        start=(tomorrow + timedelta(hours=2)).isoformat(),
        end=(tomorrow + timedelta(hours=3)).isoformat(),
    )
    await reload_until(page, lambda: design_review_at("17:00"), "the moved event")
    assert not await design_review_at("15:00")

    # Sync now.
    await page.get_by_role("button", name="Sync now").click()
    assert await page.get_by_role("status").filter(has_text="Sync requested").is_visible()

    # The webhook receiver answered 503 until the retry horizon: the delivery failed. Retry it by hand.
    await nav(page, "Webhooks").click()
    failed = page.locator("table.list tbody tr").filter(has_text="failed").first
    await reload_until(page, lambda: failed.is_visible(), "a failed delivery")
    await screenshots(page, "webhooks")
    receiver.status = 200
    await failed.get_by_role("link").first.click()
    assert "HTTP 503" in await page.inner_text("main")
    await page.get_by_role("button", name="Retry now").click()
    assert await page.get_by_role("status").filter(has_text="queued again").is_visible()
    await reload_until(
        page, lambda: page.locator("h1 .badge", has_text="succeeded").is_visible(), "the retried delivery succeeded"
    )
    await screenshots(page, "delivery")

    # The overview and the calendar list, for the docs.
    await nav(page, "Overview").click()
    assert await page.get_by_role("heading", name="Syncs in the last 24 hours").is_visible()
    await screenshots(page, "overview")
    await nav(page, "Calendars").click()
    await screenshots(page, "calendars")

    # Sign out: every page asks to sign in again.
    await page.get_by_role("button", name="Sign out").click()
    assert await page.get_by_role("status").filter(has_text="You are signed out").is_visible()
    await page.goto(f"{served.url}/dashboard/calendars")
    assert urlsplit(page.url).path == "/dashboard/login"
    await screenshots(page, "sign-in")


async def test_scoping_and_forged_posts(served: Served, browser: Browser, control: EmulatorControl) -> None:
    page = browser.page
    # A second project with a calendar of its own.
    context = AppContext.from_settings(served.settings)
    try:
        async with context.db.write() as session:
            project = await project_queries.create_project(session, "other", context.clock())
            issued = await project_queries.create_api_key(session, project, "other", context.clock())
    finally:
        await context.aclose()
    async with httpx.AsyncClient(base_url=served.url, headers={"Authorization": f"Token {issued.key}"}) as other:
        theirs = await other.post(
            "/api/v1/calendars",
            json={
                "client_id": "other.apps.googleusercontent.com",
                "client_secret": "other-secret",
                "refresh_token": "1//other",
                "platform": "google",
            },
        )
        assert theirs.status_code == 201, theirs.text
    their_id = theirs.json()["id"]
    _, _, _ = await connect_ada(served, control)

    await sign_in(page, served, served.api_key)
    # Another project's calendar id is not found, exactly as the API answers.
    response = await page.goto(f"{served.url}/dashboard/calendars/{their_id}")
    assert response is not None and response.status == 404
    assert await page.get_by_role("heading", name="Calendar not found").is_visible()
    response = await page.goto(f"{served.url}/dashboard/calendars?q={their_id}")
    assert "No calendar matches" in await page.inner_text("main")

    # A forged POST without the CSRF token: from a page of the dashboard (a form added to it) and as a bare
    # request with the session's cookie. Both are refused, and the calendar is not marked due.
    await nav(page, "Calendars").click()
    await page.get_by_role("link", name="cal_", exact=False).first.click()
    ours = urlsplit(page.url).path.rsplit("/", 1)[1]
    await page.evaluate(
        """(action) => {
            const form = document.createElement('form');
            form.method = 'post';
            form.action = action;
            document.body.appendChild(form);
            form.submit();
        }""",
        f"/dashboard/calendars/{ours}/sync",
    )
    # The submission navigates: wait for the refusal page itself (the old page is still "loaded" until it does).
    await page.get_by_role("heading", name="Refused").wait_for(state="visible", timeout=WAIT_SECONDS * 1000)
    bare = await browser.context.request.post(
        f"{served.url}/dashboard/calendars/{ours}/sync", form={"confirm": "1"}, max_redirects=0
    )
    assert bare.status == 403
    # Another site's form: the cookie is SameSite=Lax, so it does not even arrive signed in.
    forged = await browser.context.request.post(
        f"{served.url}/dashboard/calendars/{ours}/delete",
        form={"confirm_id": ours},
        headers={"Origin": "http://127.0.0.2:9"},
        max_redirects=0,
    )
    assert forged.status == 403
    async with httpx.AsyncClient(base_url=served.url, headers={"Authorization": f"Token {served.api_key}"}) as api:
        assert (await api.get(f"/api/v1/calendars/{ours}")).status_code == 200

    assert browser.refused == []


async def _synced_events(api: httpx.AsyncClient, name: str) -> list[dict[str, Any]]:
    """The events in start order once the one called `name` is synced by `calsync serve`'s worker (bounded polling:
    the sync runs in another process, there is nothing to await here)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        page = (await api.get("/api/v1/calendar_events", params={"ordering": "start_time"})).json()
        events: list[dict[str, Any]] = page["results"]
        if any(event["name"] == name for event in events):
            return events
        if time.monotonic() > deadline:
            raise AssertionError(f"{name!r} was not synced within {WAIT_SECONDS} s")
        await asyncio.sleep(0.3)


async def _bot(api: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    created = await api.post("/api/v1/bots", json=body)
    assert created.status_code == 201, created.text
    bot: dict[str, Any] = created.json()
    return bot


async def test_bots_page_and_cancel(
    served: Served,
    browser: Browser,
    control: EmulatorControl,
    screenshots: Callable[[Any, str], Awaitable[None]],
) -> None:
    async with running_receiver(status=200) as runner:
        await _bots_walk(served, browser, control, screenshots, runner)
        # The same synced events as meetings, once rules decide their bots (cheap: the week is synced already).
        await _meetings_walk(served, browser, screenshots)
    assert browser.refused == [], f"requests that would have left 127.0.0.1: {browser.refused}"


async def _bots_walk(
    served: Served,
    browser: Browser,
    control: EmulatorControl,
    screenshots: Callable[[Any, str], Awaitable[None]],
    runner: Receiver,
) -> None:
    page = browser.page
    async with httpx.AsyncClient(base_url=served.url, headers={"Authorization": f"Token {served.api_key}"}) as api:
        # The application's bot runner, told about every bot.
        hook = await api.post(
            "/api/v1/webhooks",
            json={"url": runner.url, "triggers": ["bot.dispatch", "bot.updated", "bot.state_change"]},
        )
        assert hook.status_code == 201, hook.text
    await connect_ada(served, control)
    join_soon = (datetime.now(UTC) + timedelta(minutes=30)).replace(microsecond=0)
    names = {"Stand-up": "Stand-up recorder", "Design review": "Notes", "Customer call": "Call notes"}
    async with httpx.AsyncClient(base_url=served.url, headers={"Authorization": f"Token {served.api_key}"}) as api:
        # A bot for every event with a meeting link (6 stand-ups, the review, the call), one of them cancelled, and
        # one without an event joining in half an hour.
        events = await _synced_events(api, "Design review")
        bots = {}
        for event in events:
            if event["meeting_url"]:
                offset = -60 if event["name"] == "Design review" else 0
                bot = await _bot(
                    api, calendar_event_id=event["id"], bot_name=names[event["name"]], join_offset_seconds=offset
                )
                bots.setdefault(event["name"], bot)
        assert len(bots) == 3
        review = next(event["id"] for event in events if event["name"] == "Design review")
        notes = bots["Design review"]
        assert (await api.delete(f"/api/v1/bots/{bots['Stand-up']['id']}")).status_code == 200
        soon = await _bot(
            api,
            meeting_url="https://zoom.us/j/987654321",
            join_at=join_soon.isoformat().replace("+00:00", "Z"),
            bot_name="Ad-hoc sync",
        )

    await sign_in(page, served, served.api_key)
    # The overview: the bot dispatched within the hour.
    due = page.locator("section", has=page.get_by_role("heading", name="Bots due in the next hour"))
    assert "Ad-hoc sync" in await due.inner_text()
    assert "Notes" not in await due.inner_text()

    # The bots page: the week's dispatches on the timeline, each bot with its state; filters by state.
    await nav(page, "Bots").click()
    await page.get_by_label("When").select_option("7d")
    await page.get_by_role("button", name="Filter").click()
    await page.wait_for_url("**/dashboard/bots?window=7d*")
    bars = page.locator("figure.timeline svg a")
    assert await bars.count() == 9
    assert await bars.filter(has=page.locator("title", has_text=re.compile("^Notes: scheduled"))).count() == 1
    assert await page.locator("rect.bot-cancelled").count() == 1
    rows = page.locator("#bots tbody tr")
    assert await rows.count() == 9
    assert "Notes" in await rows.filter(has_text="Design review").inner_text()
    assert "cancelled_by_request" in await rows.filter(has_text="cancelled").inner_text()
    await screenshots(page, "bots")
    await page.get_by_label("State").select_option("dispatched")
    await page.get_by_role("button", name="Filter").click()
    await page.wait_for_url("**/dashboard/bots?*state=dispatched*")
    assert await page.locator("#bots").count() == 0 and "No bot in state dispatched" in await page.inner_text("main")
    await page.go_back()

    # A forged cancel (a form added to the page, without the CSRF token) is refused.
    await page.evaluate(
        """(action) => {
            const form = document.createElement('form');
            form.method = 'post';
            form.action = action;
            document.body.appendChild(form);
            form.submit();
        }""",
        f"/dashboard/bots/{soon['id']}/cancel",
    )
    await page.get_by_role("heading", name="Refused").wait_for(state="visible", timeout=WAIT_SECONDS * 1000)
    await page.go_back()

    # Cancel from the list: the bot's page says so, with the reason code.
    await rows.filter(has_text="Design review").get_by_role("button", name="Cancel").click()
    await page.wait_for_url(f"**/dashboard/bots/{notes['id']}?notice=bot_cancelled")
    assert await page.get_by_role("status").filter(has_text="The bot is cancelled").is_visible()
    assert await page.locator("h1 .badge", has_text="cancelled").is_visible()
    assert "cancelled_by_request" in await page.inner_text("main")
    assert await page.get_by_role("button", name="Cancel bot").count() == 0
    # The runner is told (the webhook is queued in the cancel's transaction, then delivered).
    webhooks = page.locator("section", has=page.get_by_role("heading", name="Webhooks about this bot"))
    state_change = webhooks.get_by_role("row").filter(has_text="bot.state_change")
    assert "scheduled → cancelled" in await state_change.inner_text()
    await reload_until(page, lambda: state_change.get_by_text("succeeded").is_visible(), "the runner told")
    await screenshots(page, "bot")

    # Its event's page shows it cancelled.
    await page.get_by_role("link", name="Design review").click()
    await page.wait_for_url(f"**/dashboard/events/{review}")
    assert "Notes: cancelled (cancelled_by_request)" in await page.inner_text("main")

    async with httpx.AsyncClient(base_url=served.url, headers={"Authorization": f"Token {served.api_key}"}) as api:
        assert (await api.get(f"/api/v1/bots/{notes['id']}")).json()["state"] == "cancelled"
        assert (await api.get(f"/api/v1/bots/{soon['id']}")).json()["state"] == "scheduled"


async def _meetings_walk(served: Served, browser: Browser, screenshots: Callable[[Any, str], Awaitable[None]]) -> None:
    page = browser.page
    async with httpx.AsyncClient(base_url=served.url, headers={"Authorization": f"Token {served.api_key}"}) as api:
        for rule in (
            {"name": "Record reviews and calls", "priority": 10, "bot_name": "Notes", "title_exclude": ["Stand-up"]},
            {"name": "Customers first", "priority": 20, "event_selection": "external", "bot_name": "Customer notes"},
        ):
            created = await api.post("/api/v1/bot_rules", json=rule)
            assert created.status_code == 201, created.text

    # The meetings page: the served worker evaluates the window; the review gets the first rule's bot.
    await nav(page, "Meetings").click()
    await page.wait_for_url("**/dashboard/meetings")
    review = page.locator("#meetings tbody tr").filter(has_text="Design review")
    await reload_until(
        page, lambda: review.get_by_text("Bot: yes, by the rule “Record reviews and calls”.").is_visible(), "decision"
    )
    assert "Bot: no. No rule selects it." in await page.locator("#meetings").inner_text()  # the 1:1 has no link
    await screenshots(page, "meetings")

    # A meeting's page: its event, its bot, and why the other rule did not win, in words.
    await review.get_by_role("link", name="Design review").click()
    await page.wait_for_url("**/dashboard/meetings/mtg_*")
    why = page.locator("section", has=page.get_by_role("heading", name="Why (each rule)"))
    assert "Customers first" in await why.inner_text()
    await screenshots(page, "meeting")
    # Never a bot: the override is the API's; the page shows the new decision.
    await page.get_by_role("button", name=re.compile("^Never a bot")).click()
    await page.wait_for_url("**/dashboard/meetings/mtg_*?notice=meeting_override_set")
    assert "Bot: no, by the override “never”." in await page.inner_text("main")

    await nav(page, "Rules").click()
    await page.wait_for_url("**/dashboard/rules")
    assert await page.locator("#rules tbody tr").count() == 2
    await screenshots(page, "rules")
