"""What the emulator itself costs: seeding time and memory, and server-side time per request.

Benchmarks of calsync must measure calsync, not the emulator; this shows how small the emulator's
share is. Server-side time is the emulator's own middleware measurement (routing, auth, query,
rendering, JSON), so client overhead in this process does not count.

    .venv/bin/python bench/emulator_cost.py                 # 10,000 accounts x 200 events
    .venv/bin/python bench/emulator_cost.py --accounts 1000 --requests 100 --materialize-all
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import httpx

from calsync_emulator.state import EmulatorState
from calsync_emulator.testing import running_emulator


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def token(http: httpx.Client, url: str, account: dict[str, Any], scope: str | None = None) -> dict[str, str]:
    form = {
        "grant_type": "refresh_token",
        "client_id": account["client_id"],
        "client_secret": account["client_secret"],
        "refresh_token": account["refresh_token"],
    }
    if scope:
        form["scope"] = scope
    response = http.post(url, data=form)
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=10000, help="per platform: half Google, half Microsoft")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--recurring", type=int, default=5)
    parser.add_argument("--requests", type=int, default=300, help="requests per measured endpoint")
    parser.add_argument("--materialize", type=int, default=2000, help="calendars to generate (first access)")
    parser.add_argument("--materialize-all", action="store_true")
    args = parser.parse_args()

    state = EmulatorState()
    rows: list[tuple[str, str]] = []
    with running_emulator(state) as emu, emu.sync_control() as control, httpx.Client(trust_env=False) as http:
        half = args.accounts // 2
        base_rss = rss_mb()
        started = time.perf_counter()
        control.seed(
            seed=1,
            google_accounts=half,
            microsoft_accounts=args.accounts - half,
            events_per_calendar=args.events,
            recurring_per_calendar=args.recurring,
        )
        seed_s = time.perf_counter() - started
        rows.append(
            (
                f"seed {args.accounts} accounts x {args.events} events (one control call, lazy)",
                f"{seed_s:.2f} s, +{rss_mb() - base_rss:.0f} MB RSS",
            )
        )

        # generating events on first access, through the same bounded cache the routes use; the server
        # is idle here, so touching its state from this thread is safe
        calendars = list(state.calendars)
        count = len(calendars) if args.materialize_all else min(args.materialize, len(calendars))
        before, started = rss_mb(), time.perf_counter()
        for cal_id in calendars[:count]:
            state.directory.calendar(cal_id)
        gen_s = time.perf_counter() - started
        kept = len(state.directory.seed_cache)
        rows.append(
            (
                f"generate events of {count} calendars ({count * args.events:,} events)",
                f"{gen_s:.2f} s ({gen_s / max(count, 1) * 1000:.2f} ms per calendar), "
                f"+{rss_mb() - before:.0f} MB RSS with {kept} kept generated "
                f"(seed_cache_calendars={state.config.seed_cache_calendars})",
            )
        )

        google = control.list_accounts("google", offset=0, limit=1)["items"][0]
        microsoft = control.list_accounts("microsoft", offset=0, limit=1)["items"][0]
        g_headers = token(http, emu.google_token_url, google)
        m_token_url = f"{emu.microsoft_login_url}/common/oauth2/v2.0/token"
        m_headers = token(http, m_token_url, microsoft, "offline_access https://graph.microsoft.com/Calendars.Read")
        now = control.now()
        events_url = f"{emu.google_api_url}/calendars/primary/events"
        window = {
            "singleEvents": "true",
            "timeMin": now.replace(hour=0, minute=0).isoformat(),
            "timeMax": (now.replace(hour=0, minute=0).timestamp() + 28 * 86400),
        }
        g_params = {
            **window,
            "timeMax": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(window["timeMax"])),
            "maxResults": "2500",
        }
        full = http.get(events_url, params=g_params, headers=g_headers).json()
        sync_token = full["nextSyncToken"]
        delta_url = f"{emu.graph_url}/me/calendarView/delta"
        m_window = {"startDateTime": g_params["timeMin"], "endDateTime": g_params["timeMax"]}
        m_prefer = {**m_headers, "Prefer": "odata.maxpagesize=1000"}
        delta_full = http.get(delta_url, params=m_window, headers=m_prefer).json()
        delta_link = delta_full["@odata.deltaLink"]

        endpoints: list[tuple[str, Any]] = [
            (
                f"Google events.list full window ({len(full['items'])} items)",
                lambda: http.get(events_url, params=g_params, headers=g_headers),
            ),
            (
                "Google events.list syncToken, no changes",
                lambda: http.get(
                    events_url, params={"singleEvents": "true", "syncToken": sync_token}, headers=g_headers
                ),
            ),
            (
                f"Graph calendarView/delta full window ({len(delta_full['value'])} items)",
                lambda: http.get(delta_url, params=m_window, headers=m_prefer),
            ),
            ("Graph deltaLink, no changes", lambda: http.get(delta_link, headers=m_prefer)),
            (
                "Google token refresh",
                lambda: http.post(
                    emu.google_token_url,
                    data={
                        "grant_type": "refresh_token",
                        "client_id": google["client_id"],
                        "client_secret": google["client_secret"],
                        "refresh_token": google["refresh_token"],
                    },
                ),
            ),
        ]
        for label, call in endpoints:
            control.clear_requests()
            client_ms = []
            for _ in range(args.requests):
                t = time.perf_counter()
                call().raise_for_status()
                client_ms.append((time.perf_counter() - t) * 1000)
            server = [r for r in control.requests(limit=args.requests)]
            server_ms = [r["duration_ms"] for r in server]
            size = statistics.mean(r["response_bytes"] for r in server)
            rows.append(
                (
                    label,
                    f"server p50 {pct(server_ms, 0.5):.2f} ms, p99 {pct(server_ms, 0.99):.2f} ms; "
                    f"{size / 1024:.1f} KB; round trip p50 {pct(client_ms, 0.5):.2f} ms",
                )
            )

    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
