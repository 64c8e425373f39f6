"""docs/emulator.md shows how to point each SDK at the emulator; the code it shows must be the code these
tests run: each `python` block marked `<!-- snippet: NAME -->` equals the source of examples/emulator_sdk.py's
NAME, and every function and class of that file is quoted."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from tests.emulator_sdk.conftest import sdk

DOC = Path(__file__).resolve().parents[2] / "docs" / "emulator.md"
SNIPPET = re.compile(r"<!-- snippet: (\w+) -->\s*```python\n(.*?)```", re.S)


def test_docs_quote_the_example_functions_verbatim():
    quoted = dict(SNIPPET.findall(DOC.read_text()))
    defined = {
        name
        for name, value in vars(sdk).items()
        if (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ == sdk.__name__
    }
    assert set(quoted) == defined
    for name, text in quoted.items():
        assert text == inspect.getsource(getattr(sdk, name)), f"docs/emulator.md's {name} differs from the example"
