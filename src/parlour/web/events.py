"""GET /api/v1/events: a thread's new comments as Server-Sent Events, for open pages.

The stream sends `event: comment` with the comment in its public shape (the same as in a
page, with `parent_id`) whenever one is published in that thread through any process,
and a comment line every 15 seconds so proxies keep the connection open. EventSource
reconnects by itself; the widget skips comments it already shows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from parlour.services import reading
from parlour.web import http

KEEPALIVE_SECONDS = 15.0


async def thread_events(request: Request) -> Response:
    """New comments of one thread, as they are published."""
    ctx = http.context(request)
    params = request.query_params
    site, key = await reading.events_target(ctx, params.get("site"), params.get("thread"))
    after = reading.events_after(params.get("after"))

    async def stream() -> AsyncIterator[bytes]:
        async with ctx.live.listen(site, key, after) as listener:
            yield b"retry: 3000\n\n"
            while not listener.dropped:
                try:
                    event = await asyncio.wait_for(listener.queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if event is None:  # the process is stopping; the browser reconnects elsewhere
                    return
                yield b"event: comment\nid: %d\ndata: %s\n\n" % (event["id"], orjson.dumps(event))

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
