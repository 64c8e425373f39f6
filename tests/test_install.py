"""The Makefile installs exactly the locks, with the pip that `python -m venv` bundles, whatever the index offers.

A throwaway environment is built by the Makefile's own targets (`make install`, `make tools`) with the
interpreter's bundled pip, never upgraded. It fails if pip installed a package or a version that no lock names,
if a locked package is missing, or if `pip check` finds the set inconsistent. pip's cache is shared with the
developer's, so a second run downloads nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)

pytestmark = pytest.mark.timeout(900)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(*locks: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for lock in locks:
        for name, version in PINNED.findall((ROOT / lock).read_text()):
            pins[_canonical(name)] = version
    return pins


def installed(venv: Path) -> dict[str, str]:
    listing = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        check=True,
        capture_output=True,
        text=True,
    )
    return {_canonical(row["name"]): row["version"] for row in json.loads(listing.stdout)}


def make(target: str, **variables: str) -> subprocess.CompletedProcess[str]:
    assignments = [f"{name}={value}" for name, value in variables.items()]
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), target, f"PYTHON={sys.executable}", *assignments],
        capture_output=True,
        text=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        timeout=840,
    )


def assert_exactly_locked(venv: Path, pins: dict[str, str], bundled: dict[str, str], own: set[str]) -> None:
    """Everything installed is locked at its locked version, or came with the venv, or is calsync itself."""
    present = installed(venv)
    unlocked = {
        name: version
        for name, version in present.items()
        if name not in own and pins.get(name) != version and bundled.get(name) != version
    }
    missing = {name: version for name, version in pins.items() if name not in present}
    assert unlocked == {}, f"pip installed what no lock names (or another version): {unlocked}"
    assert missing == {}, f"locked packages that were not installed: {missing}"


def fresh_venv(path: Path) -> dict[str, str]:
    """A venv as `python -m venv` makes it, with its bundled pip; returns what it came with."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    return installed(path)


def test_make_install_takes_exactly_the_locks_with_the_bundled_pip(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    bundled = fresh_venv(venv)
    result = make("install", VENV=str(venv))
    assert result.returncode == 0, result.stdout + result.stderr
    assert_exactly_locked(venv, locked("requirements.lock", "requirements-build.lock"), bundled, own={"calsync"})
    # The bundled pip did the work: nothing upgraded it.
    assert installed(venv)["pip"] == bundled["pip"]
    check = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    imported = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import calsync.cli, calsync; print(calsync.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert imported.returncode == 0, imported.stderr
    assert Path(imported.stdout.strip()).is_relative_to(ROOT / "calsync")
    # Each step says what it does, so a first run that takes minutes does not look hung.
    assert "calsync: installing" in result.stdout
    assert "locked packages from requirements.lock" in result.stdout


def test_make_tools_takes_exactly_the_tools_lock(tmp_path: Path) -> None:
    venv = tmp_path / "venv-tools"
    bundled = fresh_venv(venv)
    result = make("tools", TOOLS_VENV=str(venv))
    assert result.returncode == 0, result.stdout + result.stderr
    assert_exactly_locked(venv, locked("requirements-tools.lock"), bundled, own=set())


def test_the_build_lock_agrees_with_the_main_lock() -> None:
    """Both go into one environment: a package pinned by both must be pinned alike."""
    main, build = locked("requirements.lock"), locked("requirements-build.lock")
    assert {name: version for name, version in build.items() if main.get(name, version) != version} == {}
