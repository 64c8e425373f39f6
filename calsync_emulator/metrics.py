"""Request log and counters: an ASGI middleware records every platform request (not control calls).

Counters are requests and response bytes per endpoint (route template) per account, which is what a
benchmark needs to show how much a calsync run cost the platforms.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCOUNT_SCOPE_KEY = "emulator.account_id"


@dataclass(slots=True)
class RequestRecord:
    at: float
    method: str
    path: str
    query: str
    endpoint: str
    account_id: str | None
    status: int
    response_bytes: int
    duration_ms: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RequestMetrics:
    def __init__(self, log_size: int) -> None:
        self.log: deque[RequestRecord] = deque(maxlen=log_size)
        # endpoint -> account id ("" when unknown) -> [requests, response bytes]
        self.counters: dict[str, dict[str, list[int]]] = {}

    def record(self, rec: RequestRecord) -> None:
        self.log.append(rec)
        per_account = self.counters.setdefault(rec.endpoint, {})
        slot = per_account.setdefault(rec.account_id or "", [0, 0])
        slot[0] += 1
        slot[1] += rec.response_bytes

    def clear(self) -> None:
        self.log.clear()
        self.counters.clear()

    def summary(self, account_id: str | None = None) -> dict[str, Any]:
        endpoints: dict[str, dict[str, int]] = {}
        total_requests = total_bytes = 0
        for endpoint, per_account in self.counters.items():
            requests = size = 0
            for acc, (n, b) in per_account.items():
                if account_id is None or acc == account_id:
                    requests += n
                    size += b
            if requests:
                endpoints[endpoint] = {"requests": requests, "response_bytes": size}
                total_requests += requests
                total_bytes += size
        return {"requests": total_requests, "response_bytes": total_bytes, "endpoints": endpoints}


class MetricsMiddleware:
    def __init__(
        self, app: ASGIApp, metrics: Callable[[], RequestMetrics], clock: Callable[[], float], prefixes: tuple[str, ...]
    ) -> None:
        self.app = app
        self.prefixes = prefixes  # router mount points: route templates are relative to them
        self.metrics = metrics  # a getter: reset() swaps the metrics object
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        size = 0

        async def counting_send(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            for prefix in self.prefixes:
                if scope["path"].startswith(prefix) and not template.startswith(prefix):
                    template = prefix + template
                    break
            self.metrics().record(
                RequestRecord(
                    at=self.clock(),
                    method=scope["method"],
                    path=scope["path"],
                    query=scope.get("query_string", b"").decode("latin-1"),
                    endpoint=f"{scope['method']} {template}",
                    account_id=scope.get(ACCOUNT_SCOPE_KEY),
                    status=status,
                    response_bytes=size,
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                )
            )
