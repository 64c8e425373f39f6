"""The import rules of pyproject.toml ([tool.importlinter]: layers, no cycles between packages, a standalone
emulator) hold: `lint-imports` from this environment, as CI runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_the_import_contracts_are_kept() -> None:
    result = _lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_broken_contract_fails(tmp_path: Path) -> None:
    # The check reads the real import graph: a rule the code breaks (the sync engine writes through the store) fails.
    config = tmp_path / "importlinter.toml"
    config.write_text(
        '[tool.importlinter]\nroot_package = "calsync"\n\n'
        '[[tool.importlinter.contracts]]\nname = "broken on purpose"\ntype = "forbidden"\n'
        'source_modules = ["calsync.sync"]\nforbidden_modules = ["calsync.store"]\n'
    )
    result = _lint_imports("--config", str(config))
    assert result.returncode == 1 and "BROKEN" in result.stdout, result.stdout + result.stderr
