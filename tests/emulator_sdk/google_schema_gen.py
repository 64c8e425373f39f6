"""Derive calsync_emulator/google_schema.py from the Calendar v3 discovery document that
google-api-python-client ships, so the emulator validates `fields` selections against Google's own schema.

    .venv/bin/python -m tests.emulator_sdk.google_schema_gen > calsync_emulator/google_schema.py

test_google_fields.py checks that the committed module still equals this derivation.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

# the response schemas of the methods the emulator serves (see render_google / google_api)
ROOTS = (
    "Calendar",
    "CalendarList",
    "CalendarListEntry",
    "Channel",
    "Colors",
    "Event",
    "Events",
    "FreeBusyResponse",
    "Setting",
    "Settings",
)


def discovery_document() -> dict[str, Any]:
    path = resources.files("googleapiclient") / "discovery_cache" / "documents" / "calendar.v3.json"
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def derive(document: dict[str, Any]) -> dict[str, dict[str, str]]:
    """schema name -> {property: ""} for scalars, the schema name for objects and arrays of objects, and
    "*name" ("*" alone for scalars) for maps; inline objects get the synthetic name `Owner.property`."""
    schemas = document["schemas"]
    out: dict[str, dict[str, str]] = {}

    def kind_of(owner: str, name: str, prop: dict[str, Any]) -> str:
        if "$ref" in prop:
            build(prop["$ref"], schemas[prop["$ref"]])
            return str(prop["$ref"])
        if prop.get("type") == "array":
            return kind_of(owner, name, prop["items"])
        if prop.get("type") == "object":
            if "additionalProperties" in prop:
                return "*" + kind_of(owner, name, prop["additionalProperties"])
            if "properties" in prop:
                synthetic = f"{owner}.{name}"
                build(synthetic, prop)
                return synthetic
        return ""

    def build(name: str, schema: dict[str, Any]) -> None:
        if name in out:
            return
        out[name] = {}
        out[name] = {p: kind_of(name, p, v) for p, v in sorted(schema.get("properties", {}).items())}

    for root in ROOTS:
        build(root, schemas[root])
    return dict(sorted(out.items()))


def render(document: dict[str, Any]) -> str:
    lines = [
        '"""The Calendar API v3 response schemas, reduced to property names, for validating `fields` selections.',
        "",
        f"Generated from the discovery document google-api-python-client ships (revision {document['revision']}) by",
        "tests/emulator_sdk/google_schema_gen.py; tests/emulator_sdk/test_google_fields.py keeps it in step.",
        'A value is "" for a scalar, a schema name for an object or an array of objects, and "*name" (or "*")',
        'for a map whose keys are free."""',
        "",
        "from __future__ import annotations",
        "",
        f"REVISION = {document['revision']!r}",
        "",
        "SCHEMAS: dict[str, dict[str, str]] = {",
    ]
    for name, props in derive(document).items():
        lines.append(f"    {name!r}: {{")
        lines.extend(f"        {p!r}: {k!r}," for p, k in props.items())
        lines.append("    },")
    lines.append("}")
    return "\n".join(lines).replace("'", '"') + "\n"


if __name__ == "__main__":
    print(render(discovery_document()), end="")
