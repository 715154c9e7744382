"""The public read endpoints, as bare ASGI apps: the hot path, kept thin.

A widget's first request and every index page's counts land here, so these skip the
Request/Response objects and dependency injection (measured on 2 cores: 5.5k req/s for
counts through Starlette endpoints, noticeably more bare). Errors still raise
ParlourError and reach the one error envelope through the app's exception middleware.
The OpenAPI document describes them in web/openapi.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import unquote_plus

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from parlour.domain.errors import ParlourError
from parlour.services import reading
from parlour.services.context import Context
from parlour.web.errors import error_for
from parlour.web.http import none_match

_JSON = (b"content-type", b"application/json")
_NO_CACHE = (b"cache-control", b"no-cache")


def query_lists(scope: Scope) -> dict[str, list[str]]:
    """The query string as lists of values. Same result as parse_qsl, a third of the time
    for the plain strings widgets send (the stdlib unquotes every part)."""
    out: dict[str, list[str]] = {}
    raw = scope["query_string"].decode("latin-1")
    for part in raw.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        if "%" in part or "+" in part:
            key, value = unquote_plus(key), unquote_plus(value)
        out.setdefault(key, []).append(value)
    return out


def first(params: dict[str, list[str]], key: str) -> str | None:
    values = params.get(key)
    return values[0] if values else None


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Endpoint:
    """Marks a bare ASGI function as an app, so Starlette's Route calls it as one."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app
        self.__doc__ = app.__doc__

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


async def _read_comments(scope: Scope, _receive: Receive, send: Send) -> None:
    """GET /api/v1/comments: a page of a thread, cached per process until the thread changes."""
    ctx: Context = scope["app"].state.ctx
    p = query_lists(scope)
    query = reading.page_query(
        ctx, first(p, "site"), first(p, "thread"), first(p, "sort"), first(p, "limit"), first(p, "replies_limit"),
        first(p, "cursor"), first(p, "root"), first(p, "until"),
    )  # fmt: skip
    thread = await reading.locate(ctx, query)
    page = reading.cached_page(ctx, thread, query)
    if page is None:
        page = await ctx.db.run(lambda: reading.render_page(ctx, thread, query), heavy=True)
    headers = [_NO_CACHE, (b"etag", page.etag)]
    for name, value in scope["headers"]:
        if name == b"if-none-match" and none_match(value, page.etag):
            await _send(send, 304, b"", headers)
            return
    await _send(send, 200, page.body, [_JSON, *headers])


async def _read_counts(scope: Scope, _receive: Receive, send: Send) -> None:
    """GET /api/v1/counts: published comments for several threads of a site."""
    ctx: Context = scope["app"].state.ctx
    p = query_lists(scope)
    found = await reading.counts(ctx, first(p, "site"), p.get("thread", []))
    await _send(send, 200, orjson.dumps({"counts": found}), [_JSON, _NO_CACHE])


read_comments = Endpoint(_read_comments)
read_counts = Endpoint(_read_counts)


class HotReads:
    """Hand the bare read endpoints their requests before the framework's inner layers.

    The endpoints stay in the one route table (web/routes.py); this middleware only takes
    a shortcut to them, past the body guard, exception middleware and route matching,
    which cost as much as the endpoint itself (measured in-process: 76 µs a read through
    the stack, 36 µs direct). CORS still applies: it sits outside this middleware.
    """

    def __init__(self, app: ASGIApp, endpoints: dict[str, Endpoint]) -> None:
        self.app = app
        self.endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            endpoint = self.endpoints.get(scope["path"])
            if endpoint is not None:
                try:
                    await endpoint(scope, receive, send)
                except ParlourError as exc:
                    response = error_for(exc)
                    await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
