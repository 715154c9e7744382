"""GET /api/v1/events: a thread's new comments as Server-Sent Events, for open pages.

The stream sends `event: comment` with the comment in its public shape (the same as in a
page, with `parent_id`) whenever one is published in that thread through any process,
and a comment line every 15 seconds so proxies keep the connection open. EventSource
reconnects by itself; the widget skips comments it already shows.

Every open page holds a stream, thousands at once in one process, so this is a bare ASGI
endpoint taking the HotReads shortcut like the hot reads: no Request and no
StreamingResponse, whose task group and tasks made a stream cost 57 KiB against 39 KiB
now (bench/streams). A waiting stream holds its listener's future and timer, and the
future of the request's next message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
from starlette.types import Message, Receive, Scope, Send

from parlour.services import reading
from parlour.services.context import Context
from parlour.web.reads import Endpoint, first, query_lists

KEEPALIVE_SECONDS = 15.0
_HEADERS = (
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),
)


async def _thread_events(scope: Scope, receive: Receive, send: Send) -> None:
    """New comments of one thread, as they are published."""
    ctx: Context = scope["app"].state.ctx
    p = query_lists(scope)
    site, key = await reading.events_target(ctx, first(p, "site"), first(p, "thread"))
    after = reading.events_after(first(p, "after"))
    async with ctx.live.listen(site, key, after) as listener:
        page = _Page(receive, listener.drop)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": list(_HEADERS)})
            await send(_chunk(b"retry: 3000\n\n"))
            while True:
                await listener.wait(KEEPALIVE_SECONDS)
                if listener.dropped:
                    break
                if listener.pending:
                    body = b"".join(_frame(event) for event in listener.pending)
                    listener.pending.clear()
                    await send(_chunk(body))
                else:
                    await send(_chunk(b": keep-alive\n\n"))
            if not page.gone:  # dropped (stopping, or too far behind): end the response
                await send({"type": "http.response.body", "body": b""})
        except OSError:  # servers on ASGI 2.4 say a page has gone so
            pass
        finally:
            page.stop()


def _frame(event: dict[str, Any]) -> bytes:
    return b"event: comment\nid: %d\ndata: %s\n\n" % (event["id"], orjson.dumps(event))


def _chunk(body: bytes) -> Message:
    return {"type": "http.response.body", "body": body, "more_body": True}


class _Page:
    """Watches the request's messages for the page going away (`http.disconnect`), then
    calls `gone_then`. Granian's receive is a future of its own, so this holds no task
    there; on other servers each receive is a task."""

    def __init__(self, receive: Receive, gone_then: Callable[[], None]) -> None:
        self.gone = False
        self._receive = receive
        self._gone_then = gone_then
        self._waiting = self._next()

    def _next(self) -> asyncio.Future[Message]:
        waiting = asyncio.ensure_future(self._receive())
        waiting.add_done_callback(self._received)
        return waiting

    def _received(self, done: asyncio.Future[Message]) -> None:
        if done.cancelled():
            return
        if done.exception() is not None or done.result()["type"] == "http.disconnect":
            self.gone = True
            self._gone_then()
        else:  # the request's (empty) body: wait on
            self._waiting = self._next()

    def stop(self) -> None:
        self._waiting.cancel()


thread_events = Endpoint(_thread_events)
