"""Logs a person can read (console) or a machine can parse (json), one line per event, never secrets."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import structlog

from calsync.store.transient import transient_kind


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info
                if fmt == "json"
                else structlog.processors.ExceptionPrettyPrinter(),
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # httpx logs every request URL at INFO; URLs can carry tokens (Graph delta links), so keep it quiet.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def log_background_database_faults(loop: asyncio.AbstractEventLoop) -> None:
    """A connection closed in the middle of a driver operation (asyncpg's COPY) leaves a future nobody awaits, and
    asyncio reports it as an error ("Future exception was never retrieved"). The operation that awaited it has
    already been retried (calsync.store.transient); such a fault is logged as the expected event it is. Everything
    else keeps asyncio's own handling."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        kind = transient_kind(error) if isinstance(error, BaseException) else None
        if kind is None:
            loop.default_exception_handler(context)
            return
        structlog.get_logger(__name__).warning(
            "database_fault_in_background", message=context.get("message"), database_fault=kind
        )

    loop.set_exception_handler(handle)
