"""The hosted pages' templates (Jinja2, autoescaped, like the dashboard's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
PLATFORM_NAMES = {"google": "Google Calendar", "microsoft": "Microsoft Outlook"}

ENVIRONMENT = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"], default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENVIRONMENT.globals["platform_names"] = PLATFORM_NAMES


def render(request: Request, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
    base = str(request.scope.get("root_path", "")).rstrip("/")
    html = ENVIRONMENT.get_template(template).render(base=base, **values)
    return HTMLResponse(html, status_code=status)
