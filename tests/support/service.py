"""Runs the calsync API on a real socket (127.0.0.1, free port) inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import uvicorn
from fastapi import FastAPI

from calsync.context import AppContext
from calsync.store.queries import projects as project_queries


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serve_app(app: FastAPI, port: int | None = None) -> AsyncIterator[str]:
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Tenant:
    project_id: int
    project_object_id: str
    api_key: str
    client: httpx.AsyncClient


async def new_tenant(context: AppContext, base_url: str, name: str = "test") -> Tenant:
    async with context.db.write() as session:
        project = await project_queries.create_project(session, name, context.clock())
        issued = await project_queries.create_api_key(session, project, "test", context.clock())
    client = httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Token {issued.key}"}, timeout=30)
    return Tenant(project.id, project.object_id, issued.key, client)
