"""What a route asks FastAPI for instead of building it: the application context, the authenticated project,
and a read transaction.

A transaction given by a dependency must end when the endpoint returns, before the response is sent: with
`scope="function"` FastAPI leaves the dependency's `async with` right after the endpoint (the response body is
already rendered), so an error at the end of the transaction still becomes the error response. (The default scope,
"request", would end it after the response went out.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from calsync.api.auth import Caller, authenticate, get_context
from calsync.context import AppContext


async def request_context(request: Request) -> AppContext:
    """`get_context` as a dependency (async: a sync dependency would cost a thread hop)."""
    return get_context(request)


async def read_transaction(context: Annotated[AppContext, Depends(request_context)]) -> AsyncIterator[AsyncSession]:
    # The session takes its connection at its first statement, so a request refused before that costs no round trip.
    async with context.db.read() as session:
        yield session


Context = Annotated[AppContext, Depends(request_context)]
# The project of the request's API key; declared before a transaction, so an unknown key is refused first.
Authenticated = Annotated[Caller, Depends(authenticate)]
ReadSession = Annotated[AsyncSession, Depends(read_transaction, scope="function")]
