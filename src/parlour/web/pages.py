"""Server-rendered pages: the thread without JavaScript, for noscript readers and search engines.

It shares its escaping with the API: comment text comes from the stored, sanitised `html`
(the same field the API sends), and every other reader-typed string is autoescaped.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from parlour import __version__
from parlour.services import demo, feeds, reading, sites
from parlour.web import assets, http

templates = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_CODE_SPAN = re.compile(r"`([^`\n]+)`")


def code_spans(message: str) -> Markup:
    """An error message for a page: escaped, and its `commands` shown as code, not as
    backticks (messages are written for the command line and the API too)."""
    return Markup(_CODE_SPAN.sub(r"<code>\1</code>", str(escape(message))))


templates.filters["code_spans"] = code_spans


async def index_page(request: Request) -> Response:
    """What the URL `parlour serve` prints shows: that it runs, its sites, where to look next."""
    ctx = http.context(request)
    all_sites = await ctx.db.run(lambda: sites.list_sites(ctx))
    html = templates.get_template("index.html").render(sites=all_sites, version=__version__)
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


STATIC = Path(__file__).with_name("static")
_ASSET_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
}


def asset(name: str) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint serving one file of web/static, read and gzipped once, with an ETag.

    Scripts lose their comment lines (web/assets.py). Gzipped for browsers that accept
    it, whether or not a proxy in front compresses (bench/widget-size measures the widget).
    """
    body = assets.served(name, (STATIC / name).read_bytes())
    packed = gzip.compress(body, 9, mtime=0)
    digest = hashlib.blake2b(body, digest_size=12).hexdigest()
    common = {
        "Cache-Control": "public, max-age=300",
        "Access-Control-Allow-Origin": "*",
        "Vary": "Accept-Encoding",
    }
    plain = {**common, "ETag": f'"{digest}"'}
    zipped = {**common, "ETag": f'"{digest}-gz"', "Content-Encoding": "gzip"}
    media = _ASSET_TYPES[Path(name).suffix]

    async def serve(request: Request) -> Response:
        use_gzip = "gzip" in request.headers.get("accept-encoding", "")
        headers = zipped if use_gzip else plain
        if http.none_match(request.headers.get("if-none-match"), headers["ETag"]):
            return Response(status_code=304, headers=headers)
        return Response(packed if use_gzip else body, media_type=media, headers=headers)

    return serve


async def demo_page(request: Request) -> Response:
    """A writer's post with the widget on it, to see Parlour right after `make run`."""
    # Served by Parlour itself: relative addresses, never the request's Host.
    html = templates.get_template("demo.html").render(base="", title=demo.TITLE)
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


async def thread_page(request: Request) -> Response:
    ctx = http.context(request)
    p = request.query_params
    query = reading.page_query(
        ctx, p.get("site"), p.get("thread"), p.get("sort"), p.get("limit"), None, p.get("cursor")
    )
    thread = await reading.locate(ctx, query)
    page = await ctx.db.run(lambda: reading.build_page(ctx, thread, query), heavy=True)
    next_url = None
    if page["next_cursor"]:
        next_url = "?" + str(request.url.include_query_params(cursor=page["next_cursor"]).query)
    # From the root of Parlour's own address, where this page is: never from the Host header.
    feed_url = feeds.feed_path(query.site, query.thread) if thread is not None else None
    html = templates.get_template("comments.html").render(
        page=page, next_url=next_url, feed_url=feed_url, lang="en"
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-cache", "X-Robots-Tag": "noarchive"})
