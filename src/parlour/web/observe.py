"""Every request's id, and (when asked) its access line and its numbers: the outermost
of Parlour's middleware, a bare ASGI layer, since it sits on the hot read path too.

The id is the proxy's `X-Request-ID` when it is a sane one (at most 128 letters, digits
and `.-_:=+/`), else a new one (32 hex digits); it is echoed in the response's `X-Request-ID` and
carried by every log line written while the request is handled (services/logs.py).
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from time import perf_counter
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parlour.services.logs import ACCESS, REQUEST

if TYPE_CHECKING:  # prometheus-client is loaded only where metrics are on
    from parlour.services.metrics import Metrics

_HEADER = b"x-request-id"
UNMATCHED = "unmatched"  # the route label of every path no route has
_SANE = re.compile(rb"[A-Za-z0-9._:=+/-]{1,128}")

access = logging.getLogger(ACCESS)


def proxy_request_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The proxy's `X-Request-ID`, if it sent a sane one."""
    for name, value in headers:
        if name == _HEADER:
            return value.decode("ascii") if _SANE.fullmatch(value) else None
    return None


class Observe:
    """Give each request its id; with `metrics`, count it by route template (never the raw
    path: the label values stay few; a path no route has is `unmatched`); with
    `access_log`, write its access line.

    The route template is read after the request from the `route` Starlette's router
    leaves in the scope; requests answered before routing (the HotReads shortcut, CORS
    preflights, body refusals) have none, and are named by their path when it is one of
    the table's fixed paths (`paths`).
    """

    def __init__(
        self, app: ASGIApp, metrics: Metrics | None, access_log: bool, paths: frozenset[str]
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        self.paths = paths
        # Fresh ids: 16 random hex digits for this app (each worker has its own), then a
        # count: unique across workers and restarts, and a tenth of a microsecond to make
        # where a random id of the same length costs five (os.urandom is a system call).
        self._prefix = os.urandom(8).hex()
        self._count = itertools.count()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = proxy_request_id(scope["headers"]) or f"{self._prefix}{next(self._count):016x}"
        # Not reset afterwards: the server's error handler, outside this layer, logs an
        # unexpected error under this id. Each request is a task with its own context.
        REQUEST.set((rid, scope["method"], scope["path"]))
        echoed = (_HEADER, rid.encode("ascii"))
        status = 500  # unless a response starts: the error handler outside answers 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        if self.metrics is None and not self.access_log:
            await self.app(scope, receive, send_with_id)
            return
        start = perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = perf_counter() - start
            route = self.route(scope)
            if self.metrics is not None:
                self.metrics.request(route, scope["method"], status, seconds)
            if self.access_log:
                client = scope.get("client")
                access.info(
                    "%s %s %d %.1f ms", scope["method"], scope["path"], status, seconds * 1000,
                    extra={"route": route, "status": status, "duration_ms": round(seconds * 1000, 3),
                           "client": client[0] if client else None},
                )  # fmt: skip

    def route(self, scope: Scope) -> str:
        route = scope.get("route")
        template = getattr(route, "path", None)
        if isinstance(template, str):
            return template
        return scope["path"] if scope["path"] in self.paths else UNMATCHED
