"""A real PgBouncer (Debian's `pgbouncer`, installed by `make pooler`) on 127.0.0.1 in transaction pooling mode, in
front of the test PostgreSQL server. Missing, it is a failure, never a skip: CI must run calsync through it."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.support.service import free_port

DEBIAN_PATH = "/usr/sbin/pgbouncer"


@dataclass(frozen=True)
class RunningPooler:
    port: int

    def url_for(self, server_url: str) -> str:
        """`server_url` (a database on the test server) reached through the pooler instead."""
        return make_url(server_url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)


def pgbouncer_binary() -> str:
    found = shutil.which("pgbouncer") or (DEBIAN_PATH if Path(DEBIAN_PATH).exists() else None)
    if found is None:
        pytest.fail("pgbouncer is not installed: run `make pooler` (Debian's pgbouncer package)")
    return found


@contextlib.contextmanager
def running_pgbouncer(server_url: str, *, pool_size: int = 2) -> Iterator[RunningPooler]:
    """PgBouncer for `server_url`'s host and user, `pool_size` server connections per database: fewer than the
    clients use, so server connections pass from one client to another between transactions, as in production."""
    # Its files live in a directory of their own under the system's temporary directory: pytest's are private to
    # the user running the tests, which PgBouncer is not when started as root.
    with tempfile.TemporaryDirectory(prefix="calsync-pgbouncer-") as name:
        yield from _run(server_url, Path(name), pool_size)


def _run(server_url: str, workdir: Path, pool_size: int) -> Iterator[RunningPooler]:
    server = make_url(server_url)
    user = server.username or "postgres"
    port = free_port()
    (workdir / "users.txt").write_text(f'"{user}" ""\n')
    (workdir / "pgbouncer.ini").write_text(
        "\n".join(
            [
                "[databases]",
                f"* = host={server.host or '127.0.0.1'} port={server.port or 5432}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {workdir / 'users.txt'}",
                "pool_mode = transaction",
                f"default_pool_size = {pool_size}",
                "max_client_conn = 200",
                f"logfile = {workdir / 'pgbouncer.log'}",
                f"pidfile = {workdir / 'pgbouncer.pid'}",
                "",
            ]
        )
    )
    command = [pgbouncer_binary(), str(workdir / "pgbouncer.ini")]
    if os.geteuid() == 0:
        # PgBouncer refuses to run as root; it switches to the server's system user instead.
        account = pwd.getpwnam("postgres")
        shutil.chown(workdir, account.pw_uid, account.pw_gid)
        for path in workdir.iterdir():
            shutil.chown(path, account.pw_uid, account.pw_gid)
        command[1:1] = ["-u", "postgres"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                log = workdir / "pgbouncer.log"
                detail = log.read_text()[-2000:] if log.exists() else ""
                stderr = proc.stderr.read().decode() if proc.stderr and proc.poll() is not None else ""
                pytest.fail(f"pgbouncer did not start: {stderr}{detail}")
            time.sleep(0.05)
        yield RunningPooler(port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
