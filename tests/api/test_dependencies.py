"""A read transaction given to a route by a dependency (calsync.api.dependencies) ends when the endpoint returns,
before the response is sent, and an error inside it still becomes its error response."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event, text
from starlette.types import Message, Receive, Scope, Send

from calsync.api.dependencies import Context, ReadSession
from calsync.context import AppContext
from calsync.json_response import JSONResponse
from calsync.web.errors import ApiError, api_error_handler, not_found


def recording_app(context: AppContext, timeline: list[str]) -> Any:
    app = FastAPI()
    app.state.context = context
    app.add_exception_handler(ApiError, api_error_handler)

    @app.get("/found")
    async def found(session: ReadSession) -> JSONResponse:
        value = (await session.execute(text("SELECT 1"))).scalar_one()
        timeline.append("endpoint returned")
        return JSONResponse({"value": value})

    @app.get("/missing")
    async def missing(context: Context, session: ReadSession) -> JSONResponse:
        await session.execute(text("SELECT 1"))
        assert context.db is not None
        raise not_found("Nothing here")

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                timeline.append("response sent")
            await send(message)

        await app(scope, receive, recording_send)

    return asgi


async def test_the_read_transaction_ends_before_the_response_is_sent(context: AppContext) -> None:
    timeline: list[str] = []
    engine = context.db.read_engine.sync_engine

    def ended(_connection: Any) -> None:
        timeline.append("transaction ended")

    event.listen(engine, "commit", ended)
    event.listen(engine, "rollback", ended)
    try:
        transport = httpx.ASGITransport(app=recording_app(context, timeline))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/found")
            assert response.status_code == 200 and response.json() == {"value": 1}
            assert timeline == ["endpoint returned", "transaction ended", "response sent"]

            timeline.clear()
            response = await client.get("/missing")
            assert response.status_code == 404
            assert response.json() == {"error": "Nothing here", "code": "not_found"}
            assert timeline == ["transaction ended", "response sent"]
    finally:
        event.remove(engine, "commit", ended)
        event.remove(engine, "rollback", ended)
