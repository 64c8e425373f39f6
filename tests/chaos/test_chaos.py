"""The chaos harness's short form (bench/chaos.py --quick, docs/reliability.md) on both databases.

PostgreSQL: `calsync api` + 3 `calsync worker` processes, workers SIGKILLed, connections terminated, the
database briefly refusing connections. SQLite: one `calsync serve`, SIGKILLed and restarted as a whole. Both:
platform faults, dropped push notifications, a webhook receiver that fails or hangs, two revoked grants, and
4 CalDAV calendars on a real Radicale (bench/chaos_caldav.py) changed during the run, behind fronts that answer 503
with Retry-After or stop listening, one of them without sync-collection.
The report must show no violation. The harness runs as its own process (it starts and kills others), so a
timeout here kills its whole process group.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from tests.support.databases import _asyncpg_dsn, postgres_admin_url, postgres_required

REPO = Path(__file__).resolve().parents[2]
HARNESS_SECONDS = 540

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(HARNESS_SECONDS + 60)]


def _postgres_reachable() -> str | None:
    async def probe() -> None:
        connection = await asyncpg.connect(_asyncpg_dsn(postgres_admin_url()), timeout=5)
        await connection.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return repr(exc)
    return None


def _run_harness(tmp_path: Path, *args: str) -> dict:
    report_path = tmp_path / "report.json"
    command = [sys.executable, str(REPO / "bench/chaos.py"), "--quick", "--seed", "11", "--run-dir", str(tmp_path)]
    command += ["--json", str(report_path), *args]
    process = subprocess.Popen(command, cwd=REPO, start_new_session=True, stdout=subprocess.PIPE, text=True)
    try:
        output, _ = process.communicate(timeout=HARNESS_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"the chaos harness ran over {HARNESS_SECONDS} s:\n{output[-5000:]}")
    print(output)
    assert report_path.exists(), f"no report (exit {process.returncode}):\n{output[-5000:]}"
    report: dict = json.loads(report_path.read_text())
    return report


def _summary(report: dict) -> str:
    lines = [f"violations: {report['violation_counts']}"]
    for name, examples in report["violations"].items():
        if isinstance(examples, list) and examples:
            lines.append(f"{name}: {json.dumps(examples[:3], default=str)[:1500]}")
    lines.append(f"log errors: {report['log_error_groups']}")
    lines.append(f"logs: {report['run_dir']}")
    return "\n".join(lines)


def _assert_clean(report: dict) -> None:
    assert report["activity"]["platform_changes"] > 100, report["activity"]
    assert report["activity"]["kills"] >= 1, report["activity"]
    assert report["activity"]["deliveries_acked"] > 0, report["activity"]
    caldav = report["activity"]["caldav"]
    assert caldav["calendars"] == 4 and caldav["changes"] > 10, caldav
    assert report["final_state"]["truth_events_by_platform"].get("caldav", 0) > 0, report["final_state"]
    # Both fault kinds hit, and calsync met both of the provider's paths (a refused sync-collection included).
    assert caldav["faults"].get("unavailable_503", 0) >= 1 and caldav["faults"].get("unreachable", 0) >= 1, caldav
    assert caldav["front_answers"].get("unavailable", 0) >= 1 and caldav["front_answers"]["refused_sync"] >= 1, caldav
    bots = report["final_state"]["bots"]
    assert bots["bots"] == 40 and bots["dispatched"] == 40, bots
    assert report["violation_count"] == 0, _summary(report)
    assert report["converged"], _summary(report)


def test_chaos_postgres_workers_killed(tmp_path: Path) -> None:
    problem = _postgres_reachable()
    if problem is not None:
        if postgres_required():
            pytest.fail(f"PostgreSQL is required (CALSYNC_REQUIRE_POSTGRES=1) but unreachable: {problem}")
        pytest.skip(f"PostgreSQL unreachable ({problem}); set CALSYNC_REQUIRE_POSTGRES=1 to make this a failure")
    from sqlalchemy.engine import make_url

    server = make_url(postgres_admin_url()).set(database=None).render_as_string(hide_password=False)
    report = _run_harness(tmp_path, "--db", "postgres", "--workers", "3", "--pg-server", server)
    assert report["workers"] == 3
    _assert_clean(report)


def test_chaos_sqlite_serve_killed(tmp_path: Path) -> None:
    report = _run_harness(tmp_path, "--db", "sqlite")
    _assert_clean(report)
