"""`/feeds/SITE.atom`: Atom feeds of a site's newest comments, or (`?thread=KEY`) of one
thread's. Public and cacheable like the other reads; the work is in services/feeds.py."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from parlour.services import feeds
from parlour.web import http


async def feed(request: Request) -> Response:
    ctx = http.context(request)
    target = feeds.feed_target(ctx, request.path_params["site_id"], request.query_params.get("thread"))
    page = await feeds.feed(ctx, target)
    etag = page.etag.decode()
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=300",
        # Public, and read with no credentials: any web feed reader may fetch it.
        "Access-Control-Allow-Origin": "*",
    }
    if http.none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(page.body))
        return Response(media_type=feeds.MEDIA_TYPE, headers=headers)
    return Response(page.body, media_type=feeds.MEDIA_TYPE, headers=headers)
