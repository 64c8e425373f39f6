"""The emulator is a package of its own: it imports nothing of the service, so it can ship and move alone."""

from __future__ import annotations

import ast
from pathlib import Path

import calsync_emulator as emulator_package

PACKAGE = emulator_package.__name__
SERVICE = "calsync"


def _imported_modules(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_the_emulator_imports_nothing_of_the_service() -> None:
    root = Path(emulator_package.__file__).parent
    offending = [
        f"{path.relative_to(root)}: {name}"
        for path in sorted(root.rglob("*.py"))
        for name in _imported_modules(path)
        if name.split(".")[0] == SERVICE and name != PACKAGE and not name.startswith(f"{PACKAGE}.")
    ]
    assert offending == []
