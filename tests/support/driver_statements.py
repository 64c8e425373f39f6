"""The statements calsync sends on the asyncpg driver itself (the events API's one-statement pages,
calsync.store.queries.api_page), which SQLAlchemy's events do not see."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from calsync.store.queries import api_page


class _Recording:
    def __init__(self, connection: Any, into: list[tuple[str, Any]]) -> None:
        self.connection, self.into = connection, into

    async def fetch(self, statement: str, *values: Any) -> Any:
        self.into.append((statement, values))
        return await self.connection.fetch(statement, *values)


@contextmanager
def driver_statements(into: list[tuple[str, Any]]) -> Iterator[list[tuple[str, Any]]]:
    """Appends (statement, parameters) to `into` for every page read on the driver while inside."""
    read_page = api_page.read_page

    async def recorded(connection: Any, *args: Any, **kwargs: Any) -> api_page.ProjectedPage:
        return await read_page(_Recording(connection, into), *args, **kwargs)

    api_page.read_page = recorded  # type: ignore[assignment]
    try:
        yield into
    finally:
        api_page.read_page = read_page  # type: ignore[assignment]
